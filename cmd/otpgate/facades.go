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

	"github.com/otpgate/otpgate/api/compat/messagecentral"
	"github.com/otpgate/otpgate/api/compat/nexcode"
	"github.com/otpgate/otpgate/api/compat/smscx"
	"github.com/otpgate/otpgate/api/compat/twilio"
	"github.com/otpgate/otpgate/api/compat/vonage"
	"github.com/otpgate/otpgate/api/httpx"
	"github.com/otpgate/otpgate/engine"
	"github.com/otpgate/otpgate/internal/config"
)

// The vendor facades are mounted beside the native API on the same
// server: the same engine, limits, metrics and drain. A tenant reaches
// one with the credentials its config gives it for that vendor; in the
// sandbox the demo tenant has a set for each (see writeBanner).

// Sandbox credentials of the demo tenant for the facades; their secrets
// are the demo key (Message Central's key is its base64).
const (
	demoVonageAPIKey  = "demo"
	demoTwilioAccount = "ACdemo"
	demoTwilioService = "VAdemo"
	demoVonageKeyFile = "vonage-demo.key" // in the data directory
	demoSMSCXApp      = "demo"
	demoMCCustomer    = "demo"
)

// facades are the vendor facades the gateway serves.
type facades struct {
	twilio  *twilio.Facade
	vonage  *vonage.Facade
	smscx   *smscx.Facade
	mc      *messagecentral.Facade
	nexcode *nexcode.Facade
}

// facadeCreds are every facade's credentials, built from a config.
type facadeCreds struct {
	twilio twilio.Credentials
	vonage vonage.Credentials
	smscx  smscx.Credentials
	mc     messagecentral.Credentials
}

// webhookFormats are the webhook shapes of the facades whose vendors have
// their own (engine.Config.WebhookFormats).
var webhookFormats = map[string]engine.WebhookFormat{smscx.API: smscx.Webhook}

// mountFacades builds the facades from cfg and mounts them on the server.
// serverKey derives the key of the facades' access tokens.
func (g *gateway) mountFacades(cfg *config.Config, serverKey []byte) error {
	c, err := g.facadeCredentials(cfg)
	if err != nil {
		return err
	}
	tokens := httpx.Tokens{Key: httpx.TokenKey(serverKey)}
	g.facades = facades{
		twilio:  twilio.New(g.eng, c.twilio, g.log, nil),
		vonage:  vonage.New(g.eng, c.vonage, g.log, nil),
		smscx:   smscx.New(g.eng, c.smscx, tokens, g.log, nil),
		mc:      messagecentral.New(g.eng, c.mc, tokens, g.log, nil),
		nexcode: nexcode.New(g.eng, g.log),
	}
	g.facades.twilio.Mount(g.srv)
	g.facades.vonage.Mount(g.srv)
	g.facades.smscx.Mount(g.srv)
	g.facades.mc.Mount(g.srv)
	g.facades.nexcode.Mount(g.srv)
	return nil
}

// setCredentials swaps every facade's credentials in (a reload).
func (f facades) setCredentials(c facadeCreds) {
	f.twilio.SetCredentials(c.twilio)
	f.vonage.SetCredentials(c.vonage)
	f.smscx.SetCredentials(c.smscx)
	f.mc.SetCredentials(c.mc)
}

// facadeCredentials builds each facade's credential table from the
// tenants of cfg (the config validated them), and the demo tenant's in the
// sandbox.
func (g *gateway) facadeCredentials(cfg *config.Config) (facadeCreds, error) {
	c := facadeCreds{
		twilio: twilio.Credentials{Accounts: map[string]*twilio.Account{}, Keys: map[string]twilio.Key{}},
		vonage: vonage.Credentials{Accounts: map[string]*vonage.Account{}},
		smscx:  smscx.Credentials{Apps: map[string]*smscx.App{}, Keys: map[[32]byte]string{}},
		mc:     messagecentral.Credentials{Customers: map[string]*messagecentral.Customer{}},
	}
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
					return c, cfg.Locate(fmt.Sprintf("tenants[%d].vonage.applications[%d]", i, j), err)
				}
				a.Apps[app.ID] = k
			}
			c.vonage.Accounts[v.APIKey] = a
		}
		if t.Twilio != nil {
			a := &twilio.Account{Tenant: t.ID, SID: t.Twilio.AccountSID, Token: hash(t.Twilio.AuthTokenHash), Services: map[string]twilio.Service{}}
			for _, s := range t.Twilio.Services {
				a.Services[s.SID] = twilio.Service{SID: s.SID, FriendlyName: s.FriendlyName, CodeLength: s.CodeLength}
			}
			c.twilio.Accounts[a.SID] = a
			for _, k := range t.Twilio.APIKeys {
				c.twilio.Keys[k.SID] = twilio.Key{Account: a.SID, Secret: hash(k.SecretHash)}
			}
		}
		if sx := t.SMSCX; sx != nil {
			for _, app := range sx.Applications {
				c.smscx.Apps[app.ID] = &smscx.App{Tenant: t.ID, ID: app.ID, Secret: hash(app.SecretHash), TokenTTL: app.TokenTTL.D()}
			}
			for _, h := range sx.APIKeyHashes {
				c.smscx.Keys[hash(h)] = t.ID
			}
		}
		if mc := t.MessageCentral; mc != nil {
			c.mc.Customers[mc.CustomerID] = &messagecentral.Customer{Tenant: t.ID, ID: mc.CustomerID, Key: hash(mc.KeyHash),
				TokenTTL: mc.TokenTTL.D(), OTPTTL: mc.OTPTTL.D()}
		}
	}
	if cfg.Sandbox {
		demo := hash(httpx.HashSecret(g.demoKey))
		c.twilio.Accounts[demoTwilioAccount] = &twilio.Account{Tenant: "demo", SID: demoTwilioAccount, Token: demo,
			Services: map[string]twilio.Service{demoTwilioService: {SID: demoTwilioService, FriendlyName: "Demo"}}}
		key, err := demoVonageKey(g.cfg.DataDir)
		if err != nil {
			return c, err
		}
		c.vonage.Accounts[demoVonageAPIKey] = &vonage.Account{Tenant: "demo", Key: demoVonageAPIKey, Secret: demo,
			Apps: map[string]*rsa.PublicKey{g.sandbox.VonageApplicationID: &key.PublicKey}}
		c.smscx.Apps[demoSMSCXApp] = &smscx.App{Tenant: "demo", ID: demoSMSCXApp, Secret: demo}
		c.smscx.Keys[demo] = "demo"
		c.mc.Customers[demoMCCustomer] = &messagecentral.Customer{Tenant: "demo", ID: demoMCCustomer, Key: demo}
	}
	return c, nil
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
