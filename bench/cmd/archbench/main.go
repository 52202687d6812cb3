package main

import (
	_ "gocloud.dev/blob/s3blob"
)

func main() {}
