// Command zyre is a small toolbox over package zyre: a demo of several nodes
// in one process, an interactive chat, a cat for groups, a time shouter, a
// pinger, a peer lister, a JSON-lines scripting interface, a gossip server
// (discovery across subnets) and a CURVE key generator.
//
// Usage:
//
//	zyre <command> [flags] [args]
//
// Run "zyre help" for the list of commands and "zyre <command> -h" for the
// flags of one command. Exit codes: 0 success, 1 run-time failure (for
// example the network interface was not found), 2 bad command line.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand.
type command struct {
	name    string
	args    string // synopsis after the flags, e.g. "GROUP"
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

// commands lists the subcommands in the order "zyre help" shows them.
var commands = []command{
	{"demo", "", "run several nodes in this process on loopback and narrate what happens", runDemo},
	{"chat", "", "interactive chat (/join, /leave, /shout, /whisper, /peers, /groups, /quit)", runChat},
	{"cat", "GROUP", "shout stdin lines to GROUP; print GROUP's shouts on stdout", runCat},
	{"time", "", "shout the current time (RFC 3339) to group \"time\" every second", runTime},
	{"ping", "", "ping every peer by whisper and print round-trip times", runPing},
	{"peers", "", "wait, then list the peers found", runPeers},
	{"events", "", "print events (one JSON object per line with --json); read commands on stdin", runEvents},
	{"gossip", "", "run a gossip server, so that nodes find each other across subnets", runGossip},
	{"keygen", "", "make a CURVE key pair (czmq certificate files) for --cert", runKeygen},
	{"sim", "SCRIPT", "run a large-scale simulation scenario and print a convergence report", runSim},
}

// env holds the process's standard streams, so that the subcommands never
// touch os.Stdin and friends directly.
type env struct {
	stdin  *os.File
	stdout io.Writer
	stderr io.Writer
}

func main() {
	os.Exit(run(os.Args[1:], &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}))
}

// run runs one command line and returns the exit code.
func run(args []string, e *env) int {
	if len(args) == 0 {
		fmt.Fprintln(e.stderr, "zyre: missing command (try 'zyre help')")
		return 2
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		usage(e.stdout)
		return 0
	}
	var cmd *command
	for i := range commands {
		if commands[i].name == name {
			cmd = &commands[i]
		}
	}
	if cmd == nil {
		fmt.Fprintf(e.stderr, "zyre: unknown command %q (try 'zyre help')\n", name)
		return 2
	}

	// The first SIGINT or SIGTERM cancels ctx and the command leaves
	// politely; a second one gets the default behaviour (the process dies).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigc)
	go func() {
		select {
		case <-sigc:
			signal.Reset(os.Interrupt, syscall.SIGTERM)
			cancel()
		case <-ctx.Done():
		}
	}()

	return exitCode(e.stderr, cmd.name, cmd.run(ctx, e, args[1:]))
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "zyre: talk ZRE (Zyre) on the local network")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "usage: zyre <command> [flags] [args]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-7s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "flags of every node command: --name, --iface, --port, --interval, --header K=V,")
	fmt.Fprintln(w, "--evasive, --expired, --gossip-connect, --gossip-bind, --advertise, --cert,")
	fmt.Fprintln(w, "--allow, --no-beacon, -v, --log-json; 'zyre <command> -h' lists them all.")
}

// exitError carries an exit code and the message to print.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErrorf reports a bad command line (exit code 2).
func usageErrorf(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

// failf reports a run-time failure (exit code 1).
func failf(format string, args ...any) error {
	return &exitError{code: 1, err: fmt.Errorf(format, args...)}
}

// exitCode prints err (one line, prefixed with the command) and maps it to
// the process's exit code.
func exitCode(stderr io.Writer, name string, err error) int {
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	fmt.Fprintf(stderr, "zyre %s: %v\n", name, err)
	return code
}
