module github.com/gozyre/zyre

go 1.26
