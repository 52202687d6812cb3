//go:build !unix

package main

// oNoFollow is 0 where the platform has no O_NOFOLLOW; O_EXCL alone then
// refuses any existing name.
const oNoFollow = 0
