package zyre_test

import (
	"time"

	"github.com/gozyre/zyre/zyretest"
)

// Short names for the zyretest helpers the tests here use.
type recorder = zyretest.Recorder

// waitBound stops a broken loopback test; it is not a timing assertion.
const waitBound = 20 * time.Second

var (
	record     = zyretest.Record
	describe   = zyretest.Describe
	count      = zyretest.Count
	has        = zyretest.Has
	enteredAll = zyretest.EnteredAll
	isEnter    = zyretest.IsEnter
	isExit     = zyretest.IsExit
	isEvasive  = zyretest.IsEvasive
	isJoin     = zyretest.IsJoin
	isLeave    = zyretest.IsLeave
	isShout    = zyretest.IsShout
	isWhisper  = zyretest.IsWhisper
)
