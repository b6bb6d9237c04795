package listflag

import (
	"errors"
	"flag"
	"io"
	"strconv"
	"testing"
)

type num int

func (n num) String() string { return strconv.Itoa(int(n)) }

func TestRepeatedUsesAppendInOrder(t *testing.T) {
	var got []num
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(&Value[num]{List: &got, Parse: func(s string) (num, error) {
		n, err := strconv.Atoi(s)
		if n < 0 {
			return 0, errors.New("negative")
		}
		return num(n), err
	}}, "n", "a number; repeatable")
	if err := fs.Parse([]string{"-n", "3", "-n", "1"}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != 3 || got[1] != 1 {
		t.Fatalf("list %v, want [3 1]", got)
	}
	if s := fs.Lookup("n").Value.String(); s != `"3" "1"` {
		t.Fatalf("String() = %s", s)
	}
	if err := fs.Parse([]string{"-n", "-4"}); err == nil || len(got) != 2 {
		t.Fatalf("a bad value: %v, list %v", err, got)
	}
	var zero *Value[num]
	if zero.String() != "" {
		t.Fatal("nil Value's String")
	}
}
