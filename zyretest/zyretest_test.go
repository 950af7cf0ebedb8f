package zyretest_test

import (
	"testing"
	"testing/synctest"

	"github.com/gozyre/zyre/zyretest"
)

func TestClusterOnSimnet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := zyretest.NewCluster(t, 4, nil)
		c.WaitForPeers(t)
		if err := c.Nodes[1].Join(t.Context(), "G"); err != nil {
			t.Fatal(err)
		}
		c.Recorders[0].WaitForEvent(t, "JOIN G", zyretest.IsJoin(c.Nodes[1].ID(), "G"))
		if err := c.Nodes[0].Shout(t.Context(), "G", []byte("hi")); err != nil {
			t.Fatal(err)
		}
		c.Recorders[1].WaitForEvent(t, "the shout", zyretest.IsShout("G", "hi"))
		if n := c.Recorders[2].Count(zyretest.IsShout("G", "hi")); n != 0 {
			t.Errorf("a non-member got %d shouts", n)
		}
	})
}

func TestClusterOnLoopback(t *testing.T) {
	c := zyretest.NewCluster(t, 3, &zyretest.Options{Loopback: true})
	c.WaitForPeers(t)
	c.Close()
	for i, r := range c.Recorders {
		evs := r.Events()
		if evs[len(evs)-1].Type().String() != "STOP" {
			t.Errorf("node %d: last event %s", i, evs[len(evs)-1].Type())
		}
	}
}
