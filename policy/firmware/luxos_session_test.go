package firmware_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hashgate/hashgate/policy/firmware"
)

// cacheSession runs a Locate, which leaves the driver holding a session.
func (r *luxRig) cacheSession(t *testing.T) {
	t.Helper()
	if err := r.drv.Locate(context.Background(), r.target, true); err != nil {
		t.Fatalf("locate: %v", err)
	}
}

// A reboot the miner answers with a warning was taken: it is sent once and
// reported done.
func TestLuxOSRebootWarningSentOnce(t *testing.T) {
	r := newLuxRig(t, 0)
	r.cacheSession(t)
	r.srv.AnswerWrites("W", 99, "rebooting")
	if err := r.drv.Reboot(context.Background(), r.target); err != nil {
		t.Fatalf("reboot answered with a warning: %v", err)
	}
	if n := r.srv.Requests("rebootdevice"); n != 1 {
		t.Fatalf("one reboot sent rebootdevice %d times", n)
	}
	if n := r.miner.State().Reboots; n != 1 {
		t.Fatalf("miner rebooted %d times", n)
	}
}

// A reboot refused for a reason other than the session is reported as the
// miner's refusal and not sent again, although the driver held a session.
func TestLuxOSRebootRefusedNotResent(t *testing.T) {
	r := newLuxRig(t, 0)
	r.cacheSession(t)
	r.srv.AnswerWrites("E", 45, "Access denied")
	err := r.drv.Reboot(context.Background(), r.target)
	var ce *firmware.CommandError
	if !errors.As(err, &ce) || ce.Command != "rebootdevice" || ce.Code != 45 {
		t.Fatalf("want the miner's refusal of rebootdevice (code 45), got %v", err)
	}
	if n := r.srv.Requests("rebootdevice"); n != 1 {
		t.Fatalf("one refused reboot sent rebootdevice %d times", n)
	}
}

// A reboot on a session the miner has already dropped still goes out, once:
// the session is checked before the reboot is sent rather than after.
func TestLuxOSRebootAfterSessionExpirySentOnce(t *testing.T) {
	r := newLuxRig(t, 10*time.Second) // the miner forgets sessions before the driver does
	r.cacheSession(t)
	r.clk.Advance(20 * time.Second)
	if err := r.drv.Reboot(context.Background(), r.target); err != nil {
		t.Fatalf("reboot after the miner dropped the session: %v", err)
	}
	if n := r.srv.Requests("rebootdevice"); n != 1 {
		t.Fatalf("rebootdevice sent %d times", n)
	}
	if n := r.miner.State().Reboots; n != 1 {
		t.Fatalf("miner rebooted %d times", n)
	}
}

// A command refused on a session the miner still holds is not about the
// session: no new logon, no second send, the refusal reaches the caller.
func TestLuxOSRefusalOnLiveSessionNotResent(t *testing.T) {
	r := newLuxRig(t, 0)
	r.cacheSession(t)
	logons := r.srv.Requests("logon")
	r.srv.AnswerWrites("E", 45, "Access denied")
	err := r.drv.Sleep(context.Background(), r.target)
	var ce *firmware.CommandError
	if !errors.As(err, &ce) || ce.Command != "curtail" || ce.Code != 45 {
		t.Fatalf("want the miner's refusal of curtail (code 45), got %v", err)
	}
	if n := r.srv.Requests("curtail"); n != 1 {
		t.Fatalf("curtail sent %d times", n)
	}
	if n := r.srv.Requests("logon") - logons; n != 0 {
		t.Fatalf("%d logons after a refusal on a live session", n)
	}
	if r.miner.State().Sleeping {
		t.Fatal("miner asleep after a refused curtail")
	}
	// The session is still good for the next command.
	r.srv.AnswerWrites("", 0, "")
	if err := r.drv.Locate(context.Background(), r.target, false); err != nil {
		t.Fatalf("locate after the refusal: %v", err)
	}
}

// A curtail answered with a warning is an answer: sent once, then decided
// by the read-back.
func TestLuxOSWarningIsAnAnswer(t *testing.T) {
	r := newLuxRig(t, 0)
	r.cacheSession(t)
	r.srv.AnswerWrites("W", 99, "curtailing")
	if err := r.drv.Sleep(context.Background(), r.target); err != nil {
		t.Fatalf("sleep answered with a warning: %v", err)
	}
	if n := r.srv.Requests("curtail"); n != 1 {
		t.Fatalf("curtail sent %d times", n)
	}
	if !r.miner.State().Sleeping {
		t.Fatal("miner awake after a confirmed sleep")
	}
}
