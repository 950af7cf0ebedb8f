package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/gozyre/zyre"
)

func runKeygen(_ context.Context, e *env, args []string) error {
	f := newBareFlagSet(e, "keygen", "",
		"Make a CURVE key pair for --cert. With --out FILE: write the czmq certificates\n"+
			"FILE (public, to share) and FILE_secret (mode 0600) and print the public key;\n"+
			"without: print both keys (Z85).")
	out := f.String("out", "", "certificate `file` to write (and FILE_secret)")
	force := f.Bool("force", false, "overwrite existing certificate files")
	pos, err := parse(f, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	kp, err := zyre.GenerateKeyPair()
	if err != nil {
		return failf("%v", err)
	}
	if *out == "" {
		fmt.Fprintf(e.stdout, "public %s\nsecret %s\n", kp.Public, zyre.PublicKey(kp.Secret))
		return nil
	}
	if !*force {
		for _, p := range []string{*out, *out + "_secret"} {
			if _, err := os.Stat(p); err == nil {
				return failf("%s exists (use --force to overwrite)", p)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return failf("%v", err)
			}
		}
	}
	if err := zyre.SaveCertificate(*out, kp); err != nil {
		return failf("%v", err)
	}
	fmt.Fprintln(e.stdout, kp.Public)
	return nil
}
