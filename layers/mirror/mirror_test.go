package mirror

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		specs   []string
		want    Rules
		wantErr string
	}{
		{name: "none", specs: nil, want: nil},
		{name: "empty env", specs: []string{""}, want: nil},
		{name: "one", specs: []string{"a=b"}, want: Rules{{"a", "b"}}},
		{
			name:  "url",
			specs: []string{"https://nodejs.org/dist=http://127.0.0.1:9999/nodejs.org/dist"},
			want:  Rules{{"https://nodejs.org/dist", "http://127.0.0.1:9999/nodejs.org/dist"}},
		},
		{name: "comma list", specs: []string{"A=B,C=D"}, want: Rules{{"A", "B"}, {"C", "D"}}},
		{name: "several specs", specs: []string{"A=B", "C=D,E=F"}, want: Rules{{"A", "B"}, {"C", "D"}, {"E", "F"}}},
		{name: "spaces and trailing comma", specs: []string{" A = B , C=D,"}, want: Rules{{"A", "B"}, {"C", "D"}}},
		{name: "equals in TO", specs: []string{"https://a/x=https://m/get?u=1"}, want: Rules{{"https://a/x", "https://m/get?u=1"}}},
		{name: "no equals", specs: []string{"public.ecr.aws"}, wantErr: `invalid mirror "public.ecr.aws": want FROM=TO`},
		{name: "empty from", specs: []string{"=b"}, wantErr: "FROM is empty"},
		{name: "empty to", specs: []string{"A=B,c="}, wantErr: `invalid mirror "c=": TO is empty`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.specs...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) error = %v, want it to contain %q", tt.specs, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.specs, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Parse(%q) = %#v, want %#v", tt.specs, got, tt.want)
			}
		})
	}
}

func TestRewrite(t *testing.T) {
	rules, err := Parse(
		"https://nodejs.org/dist=http://127.0.0.1:9999/nodejs.org/dist",
		"https://nodejs.org=http://127.0.0.1:9999/other",
		"public.ecr.aws=127.0.0.1:5000,public.ecr.aws/lambda=127.0.0.1:5001/l",
	)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ in, want string }{
		{"https://nodejs.org/dist/v14.21.3/node-v14.21.3-linux-x64.tar.xz", "http://127.0.0.1:9999/nodejs.org/dist/v14.21.3/node-v14.21.3-linux-x64.tar.xz"},
		{"https://nodejs.org/download/x", "http://127.0.0.1:9999/other/download/x"},
		{"https://github.com/a/b", "https://github.com/a/b"},
		{"public.ecr.aws/amazonlinux/amazonlinux:2", "127.0.0.1:5000/amazonlinux/amazonlinux:2"},
		{"public.ecr.aws/lambda/python:3.9", "127.0.0.1:5001/l/python:3.9"},
		{"docker.io/library/alpine", "docker.io/library/alpine"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := rules.Rewrite(tt.in); got != tt.want {
			t.Errorf("Rewrite(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := Rules(nil).Rewrite("x"); got != "x" {
		t.Errorf("nil Rules rewrote x to %q", got)
	}
}

func TestRulesString(t *testing.T) {
	rules, err := Parse("A=B,C=D")
	if err != nil {
		t.Fatal(err)
	}
	if got := rules.String(); got != "A=B,C=D" {
		t.Fatalf("String() = %q", got)
	}
	again, err := Parse(rules.String())
	if err != nil || !reflect.DeepEqual(again, rules) {
		t.Fatalf("round trip: %v %v", again, err)
	}
}
