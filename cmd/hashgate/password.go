package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/hashgate/hashgate/console"
)

// cmdHashPassword prints the argon2id hash of the password read from stdin for
// [[console.user]], or with -token a new random API token and the token_hash for
// [[console.token]]. Tokens are made here rather than chosen: the console stores only a fast
// hash of each, which is safe because a token carries 256 random bits.
func cmdHashPassword(args []string, in io.Reader, out io.Writer) error {
	fs := flag.NewFlagSet("hash-password", flag.ContinueOnError)
	token := fs.Bool("token", false, "make a new API token and print it with its token_hash")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("hash-password: unexpected argument %q", fs.Arg(0))
	}
	if *token {
		tok, hash, err := console.NewToken()
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "token:      %s\ntoken_hash: %s\n", tok, hash)
		return nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	pw := strings.TrimRight(line, "\r\n")
	if len(pw) < 8 {
		return errors.New("password: at least 8 characters")
	}
	h, err := console.HashPassword(pw)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, h)
	return nil
}
