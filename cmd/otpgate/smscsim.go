package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/otpgate/otpgate/smpp/smsc"
)

func runSMSCSim(args []string) error {
	fs := flag.NewFlagSet("smsc-sim", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:2775", "address to listen on")
	systemID := fs.String("system-id", "otpgate", "system_id accepted on bind")
	password := fs.String("password", "secret", "password accepted on bind")
	delay := fs.Duration("receipt-delay", smsc.DefaultReceiptDelay, "delay before each delivery receipt; negative: no receipts")
	undeliv := fs.Float64("undelivered-share", 0, "share (0..1) of receipts that say UNDELIV")
	submitDelay := fs.Duration("submit-delay", 0, "delay before each submit_sm_resp")
	inbox := fs.Int("inbox", 10000, "messages kept in the inbox")
	verbose := fs.Bool("v", false, "log every session event")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *undeliv < 0 || *undeliv > 1 {
		return fmt.Errorf("smsc-sim: --undelivered-share %v is outside 0..1", *undeliv)
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	srv, err := smsc.New(smsc.Config{
		SystemID: *systemID, Password: *password, ReceiptDelay: *delay,
		UndeliveredShare: *undeliv, SubmitDelay: *submitDelay, InboxSize: *inbox, Log: log,
	})
	if err != nil {
		return err
	}
	if err := srv.Listen(*listen); err != nil {
		return err
	}
	log.Info("smsc simulator listening", "addr", srv.Addr(), "system_id", *systemID)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	c := srv.Counters()
	log.Info("smsc simulator stopping", "counters", fmt.Sprintf("%+v", c))
	if err := srv.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
