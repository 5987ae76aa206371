//go:build nodev

package main

import "errors"

// devCmd in a production build (-tags nodev): the embedded Temporal server
// and its Web UI are left out of the binary, so there is no `herald dev`.
type devCmd struct{}

func (devCmd) Run(*env) error {
	return errors.New("this herald is a production build (-tags nodev) without the embedded Temporal server: use `herald api` and `herald worker`, or a build without that tag for `herald dev`")
}

// benchCmd needs the embedded server too (it measures `herald dev` and a
// bare Temporal floor beside it).
type benchCmd struct{}

func (benchCmd) Run(*env) error {
	return errors.New("this herald is a production build (-tags nodev): `herald bench` needs a build without that tag")
}

type benchFloorCmd struct{}

func (benchFloorCmd) Run(*env) error { return benchCmd{}.Run(nil) }
