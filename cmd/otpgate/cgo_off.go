//go:build !cgo

package main

// cgoBuild: without cgo, Pebble's block cache is Go heap memory.
const cgoBuild = false
