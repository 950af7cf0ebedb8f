package simnet_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/gozyre/zyre/simnet"
)

// Two hosts exchange a broadcast datagram and a stream message. In a test,
// wrap this in synctest.Test so that latency costs no real time.
func ExampleNet() {
	n := simnet.New(1)
	defer n.Close()
	n.SetDefaultLink(simnet.Link{Latency: time.Millisecond})
	ctx := context.Background()
	alice := n.Host(netip.MustParseAddr("192.168.1.10"))
	bob := n.Host(netip.MustParseAddr("192.168.1.20"))

	// Datagrams: Bob listens on a port; Alice broadcasts to it.
	pc, _ := bob.ListenPacket(ctx, netip.MustParseAddrPort("0.0.0.0:5670"))
	defer pc.Close()
	out, _ := alice.ListenPacket(ctx, netip.AddrPortFrom(alice.Addr(), 0))
	defer out.Close()
	out.WriteTo([]byte("hello"), net.UDPAddrFromAddrPort(netip.MustParseAddrPort("255.255.255.255:5670")))
	buf := make([]byte, 64)
	k, from, _ := pc.ReadFrom(buf)
	fmt.Printf("bob got %q from %v\n", buf[:k], from)

	// Streams: Bob listens; Alice dials and writes.
	ln, _ := bob.Listen(ctx, netip.MustParseAddrPort("0.0.0.0:0"))
	defer ln.Close()
	c, err := alice.Dial(ctx, netip.AddrPortFrom(bob.Addr(), ln.Addr().(*net.TCPAddr).AddrPort().Port()))
	if err != nil {
		fmt.Println(err)
		return
	}
	c.Write([]byte("how are you?"))
	c.Close()
	s, _ := ln.Accept()
	msg, _ := io.ReadAll(s)
	fmt.Printf("bob read %q from %v\n", msg, s.RemoteAddr())
	s.Close()

	// Output:
	// bob got "hello" from 192.168.1.10:49152
	// bob read "how are you?" from 192.168.1.10:49152
}
