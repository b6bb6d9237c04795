package smpp

import (
	"strings"
	"testing"
)

func TestSourceAddress(t *testing.T) {
	tests := []struct {
		from    string
		want    Address
		wantErr string
	}{
		{"", Address{TONUnknown, NPIUnknown, ""}, ""},
		{"Otpgate", Address{TONAlphanumeric, NPIUnknown, "Otpgate"}, ""},
		{"My Bank 24", Address{TONAlphanumeric, NPIUnknown, "My Bank 24"}, ""},
		{"12345", Address{TONNetwork, NPIUnknown, "12345"}, ""},
		{"12345678", Address{TONNetwork, NPIUnknown, "12345678"}, ""},
		{"447911123456", Address{TONInternational, NPIE164, "447911123456"}, ""},
		{"+447911123456", Address{TONInternational, NPIE164, "447911123456"}, ""},
		{"+44A", Address{}, "2 to 15 digits"},
		{"VeryLongSenderID", Address{}, "at most 11"},
		{"Bänk", Address{}, "printable ASCII"},
		{"1234567890123456", Address{}, "at most 15 digits"},
	}
	for _, tt := range tests {
		got, err := SourceAddress(tt.from)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("SourceAddress(%q) error = %v, want one containing %q", tt.from, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("SourceAddress(%q) = %+v, %v; want %+v", tt.from, got, err, tt.want)
		}
	}
}

func TestDestAddress(t *testing.T) {
	got, err := DestAddress("+447911123456")
	if err != nil || got != (Address{TONInternational, NPIE164, "447911123456"}) {
		t.Fatalf("DestAddress = %+v, %v", got, err)
	}
	for _, bad := range []string{"", "447911123456", "+", "+44 7911", "+1234567890123456"} {
		if _, err := DestAddress(bad); err == nil {
			t.Errorf("DestAddress(%q) accepted an invalid number", bad)
		}
	}
}

func TestMaskNumber(t *testing.T) {
	if got := MaskNumber("+447911123456"); got != "+4479*****456" {
		t.Fatalf("MaskNumber = %q", got)
	}
	if got := MaskNumber("12345"); got != "*****" {
		t.Fatalf("MaskNumber(short) = %q", got)
	}
}
