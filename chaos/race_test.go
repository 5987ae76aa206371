//go:build race

package chaos

// raceBuild: the test binary has the race detector, and Herald is built
// with it too (see buildHerald).
const raceBuild = true
