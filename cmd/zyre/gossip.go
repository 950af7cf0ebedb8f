package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gozyre/zyre"
)

func runGossip(ctx context.Context, e *env, args []string) error {
	fs := newBareFlagSet(e, "gossip", "",
		"Run a gossip server: nodes started with --gossip-connect pointing here find each\n"+
			"other through it, across subnets where beacons do not reach (C Zyre nodes too).\n"+
			"Prints \"listening ENDPOINT\" on stdout (with --cert, \"listening ENDPOINT|KEY\",\n"+
			"what nodes pass to --gossip-connect), then a status line on stderr every\n"+
			"--status, until SIGINT or SIGTERM.")
	bind := fs.String("bind", "", "`endpoint` to listen on, tcp://ADDR:PORT (required; port 0 picks one)")
	var connect endpointList
	fs.Var(&connect, "connect", "other gossip server `endpoint` to exchange tuples with (repeatable); with --cert, 'tcp://IP:PORT|KEY' connects with CURVE")
	certFile := fs.String("cert", "", "CURVE certificate `file` (see 'zyre keygen'): clients must connect with CURVE and this certificate's public key")
	allowFile := fs.String("allow", "", "with --cert, accept only the clients whose public keys are in this `file` (or directory of certificates)")
	status := fs.Duration("status", 10*time.Second, "`interval` between status lines on stderr (0: none)")
	verbose := fs.Bool("v", false, "debug logging to stderr")
	logJSON := fs.Bool("log-json", false, "log as JSON lines")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	if *bind == "" {
		return usageErrorf("--bind is required (for example --bind tcp://0.0.0.0:5670)")
	}
	if *status < 0 {
		return usageErrorf("invalid --status %v: negative", *status)
	}
	curve, allow, err := loadCurve(*certFile, *allowFile)
	if err != nil {
		return err
	}
	srv, err := zyre.NewGossipServer(&zyre.GossipConfig{
		Bind:      withScheme(*bind),
		Connect:   connect,
		Curve:     curve,
		AllowKeys: allow,
		Logger:    newLogger(e.stderr, *verbose, *logJSON),
	})
	if err != nil {
		var ce *zyre.ConfigError
		if errors.As(err, &ce) {
			return usageErrorf("%v", err)
		}
		return failf("%v", err)
	}
	sctx, cancel := context.WithTimeout(ctx, startTimeout)
	err = srv.Start(sctx)
	cancel()
	if err != nil {
		return failf("cannot start gossip server: %v", err)
	}
	defer srv.Close()
	if curve != nil {
		// What nodes pass to --gossip-connect.
		fmt.Fprintf(e.stdout, "listening %s|%s\n", srv.Endpoint(), curve.Public)
	} else {
		fmt.Fprintf(e.stdout, "listening %s\n", srv.Endpoint())
	}

	var tick <-chan time.Time
	if *status > 0 {
		t := time.NewTicker(*status)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			srv.Close()
			printGossipStatus(e.stderr, srv.Stats())
			return nil
		case <-tick:
			printGossipStatus(e.stderr, srv.Stats())
		}
	}
}

// printGossipStatus writes the one-line status of a gossip server.
func printGossipStatus(w io.Writer, s zyre.GossipStats) {
	fmt.Fprintf(w, "%s gossip: tuples=%d clients=%d remotes=%d delivered=%d expired=%d withdrawn=%d msgs-in=%d msgs-out=%d dropped=%d\n",
		time.Now().Format("15:04:05"), s.Tuples, s.Clients, s.Remotes, s.Delivered, s.Expired, s.Withdrawn,
		s.MessagesReceived, s.MessagesSent, s.SendsDropped)
}
