package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/otpgate/otpgate/api/compat/twilio"
	"github.com/otpgate/otpgate/api/compat/vonage"
	"github.com/otpgate/otpgate/api/httpx"
	"github.com/otpgate/otpgate/internal/config"
)

// The vendor facades are mounted beside the native API on the same
// server: the same engine, limits, metrics and drain. A tenant reaches
// one with the credentials its config gives it for that vendor; in the
// sandbox the demo tenant has a set for each (see writeBanner).

// Sandbox credentials of the demo tenant for the facades.
const (
	demoVonageAPIKey  = "demo"
	demoTwilioAccount = "ACdemo"
	demoTwilioService = "VAdemo"
	demoVonageKeyFile = "vonage-demo.key" // in the data directory
)

// mountFacades builds the facades from cfg and mounts them on the server.
func (g *gateway) mountFacades(cfg *config.Config) error {
	tw, vo, err := g.facadeCredentials(cfg)
	if err != nil {
		return err
	}
	g.twilio = twilio.New(g.eng, tw, g.log)
	g.twilio.Mount(g.srv)
	g.vonage = vonage.New(g.eng, vo, g.log, nil)
	g.vonage.Mount(g.srv)
	return nil
}

// facadeCredentials builds each facade's credential table from the
// tenants of cfg (the config validated them), and the demo tenant's in the
// sandbox.
func (g *gateway) facadeCredentials(cfg *config.Config) (twilio.Credentials, vonage.Credentials, error) {
	tw := twilio.Credentials{Accounts: map[string]*twilio.Account{}, Keys: map[string]twilio.Key{}}
	vo := vonage.Credentials{Accounts: map[string]*vonage.Account{}}
	hash := func(h string) [32]byte {
		sum, _ := httpx.ParseHash(h) // validated with the config
		return sum
	}
	for i, t := range cfg.Tenants {
		if v := t.Vonage; v != nil {
			a := &vonage.Account{Tenant: t.ID, Key: v.APIKey, Secret: hash(v.APISecretHash), Apps: map[string]*rsa.PublicKey{}}
			for j, app := range v.Applications {
				k, err := app.Key()
				if err != nil {
					return tw, vo, cfg.Locate(fmt.Sprintf("tenants[%d].vonage.applications[%d]", i, j), err)
				}
				a.Apps[app.ID] = k
			}
			vo.Accounts[v.APIKey] = a
		}
		if t.Twilio != nil {
			a := &twilio.Account{Tenant: t.ID, SID: t.Twilio.AccountSID, Token: hash(t.Twilio.AuthTokenHash), Services: map[string]twilio.Service{}}
			for _, s := range t.Twilio.Services {
				a.Services[s.SID] = twilio.Service{SID: s.SID, FriendlyName: s.FriendlyName, CodeLength: s.CodeLength}
			}
			tw.Accounts[a.SID] = a
			for _, k := range t.Twilio.APIKeys {
				tw.Keys[k.SID] = twilio.Key{Account: a.SID, Secret: hash(k.SecretHash)}
			}
		}
	}
	if cfg.Sandbox {
		demo := hash(httpx.HashSecret(g.demoKey))
		tw.Accounts[demoTwilioAccount] = &twilio.Account{Tenant: "demo", SID: demoTwilioAccount, Token: demo,
			Services: map[string]twilio.Service{demoTwilioService: {SID: demoTwilioService, FriendlyName: "Demo"}}}
		key, err := demoVonageKey(g.cfg.DataDir)
		if err != nil {
			return tw, vo, err
		}
		vo.Accounts[demoVonageAPIKey] = &vonage.Account{Tenant: "demo", Key: demoVonageAPIKey, Secret: demo,
			Apps: map[string]*rsa.PublicKey{g.sandbox.VonageApplicationID: &key.PublicKey}}
	}
	return tw, vo, nil
}

// demoVonageKey returns the sandbox's Vonage application key, made once and
// kept (PKCS#8 PEM, 0600) in the data directory, so a Verify v2 client can
// sign its JWTs with the file's path as its private key.
func demoVonageKey(dir string) (*rsa.PrivateKey, error) {
	path := filepath.Join(dir, demoVonageKeyFile)
	if b, err := os.ReadFile(path); err == nil {
		blk, _ := pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("%s: no PEM block (delete it to make a new key)", path)
		}
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w (delete it to make a new key)", path, err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%s: not an RSA key (delete it to make a new key)", path)
		}
		return rk, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	return k, nil
}
