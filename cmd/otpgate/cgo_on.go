//go:build cgo

package main

// cgoBuild: Pebble allocates its block cache outside the Go heap.
const cgoBuild = true
