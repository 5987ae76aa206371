package main

import (
	"github.com/herald-hq/herald/outbound"
	"github.com/herald-hq/herald/receiverauth"
)

// withReceiverAuth adds the receiver authentication (OAuth2, mTLS, private
// CA) of the HTTP(S) endpoints that have it to next; every other delivery
// goes through next unchanged.
func withReceiverAuth(cfg Config, next outbound.Sender) outbound.Sender {
	hc := outbound.HTTPConfig{Timeout: cfg.DeliveryTimeout, AllowPrivateNetworks: cfg.AllowPrivateNetworks}
	return receiverauth.New(next, hc)
}
