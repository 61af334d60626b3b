package main

import (
	"encoding/json"
	"reflect"
	"testing"
)

// lambdaTable is LAMBDA.md's runtime and deprecation tables, written out
// literally: the test checks the catalog against the source, not itself.
var lambdaTable = []struct {
	id, name, family, os, sdk string
	archs                     []string
	phase1, phase2            string
}{
	{"nodejs14.x", "Node.js 14", "nodejs", "Amazon Linux 2", "AWS SDK for JavaScript 2.1001.0", []string{"x86_64", "arm64"}, "", ""},
	{"nodejs12.x", "Node.js 12", "nodejs", "Amazon Linux 2", "AWS SDK for JavaScript 2.1001.0", []string{"x86_64", "arm64"}, "2023-03-31", ""},
	{"nodejs10.x", "Node.js 10", "nodejs", "Amazon Linux 2", "AWS SDK for JavaScript 2.1001.0", []string{"x86_64"}, "2021-07-30", "2022-02-14"},
	{"python3.9", "Python 3.9", "python", "Amazon Linux 2", "boto3 1.18.55, botocore 1.21.55", []string{"x86_64", "arm64"}, "", ""},
	{"python3.8", "Python 3.8", "python", "Amazon Linux 2", "boto3 1.18.55, botocore 1.21.55", []string{"x86_64", "arm64"}, "", ""},
	{"python3.7", "Python 3.7", "python", "Amazon Linux", "boto3 1.18.55, botocore 1.21.55", []string{"x86_64"}, "", ""},
	{"python3.6", "Python 3.6", "python", "Amazon Linux", "boto3 1.18.55, botocore 1.21.55", []string{"x86_64"}, "2022-07-18", "2022-08-29"},
	{"python2.7", "Python 2.7", "python", "Amazon Linux", "boto3 1.17.100, botocore 1.20.100", []string{"x86_64"}, "2021-07-15", "2022-05-30"},
	{"ruby2.7", "Ruby 2.7", "ruby", "Amazon Linux 2", "AWS SDK for Ruby 3.0.1", []string{"x86_64", "arm64"}, "", ""},
	{"ruby2.5", "Ruby 2.5", "ruby", "Amazon Linux", "AWS SDK for Ruby 3.0.1", []string{"x86_64"}, "2021-07-30", "2022-03-31"},
	{"java11", "Java 11", "java", "Amazon Linux 2", "amazon-corretto-11", []string{"x86_64", "arm64"}, "", ""},
	{"java8.al2", "Java 8", "java", "Amazon Linux 2", "amazon-corretto-8", []string{"x86_64", "arm64"}, "", ""},
	{"java8", "Java 8", "java", "Amazon Linux", "amazon-corretto-8", []string{"x86_64"}, "", ""},
	{"go1.x", "Go 1.x", "go", "Amazon Linux", "", []string{"x86_64"}, "", ""},
	{"dotnetcore3.1", ".NET Core 3.1", "dotnet", "Amazon Linux 2", "", []string{"x86_64", "arm64"}, "2023-03-31", ""},
	{"dotnetcore2.1", ".NET Core 2.1", "dotnet", "Amazon Linux", "", []string{"x86_64"}, "2022-01-05", "2022-04-13"},
	{"provided.al2", "Custom runtime", "provided", "Amazon Linux 2", "", []string{"x86_64", "arm64"}, "", ""},
	{"provided", "Custom runtime", "provided", "Amazon Linux", "", []string{"x86_64"}, "", ""},
}

func TestRuntimesJSONMatchesLambdaTable(t *testing.T) {
	r := mustCLI(t, "", nil, "runtimes", "--format", "json", "--date", "2022-06-01")
	var rows []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("runtimes --format json is not a JSON array: %v\n%s", err, r.stdout)
	}
	if len(rows) != len(lambdaTable) {
		t.Fatalf("%d runtimes, want %d", len(rows), len(lambdaTable))
	}
	wantKeys := []string{"architectures", "deprecation", "family", "identifier", "name", "os", "sdk", "status"}
	for i, want := range lambdaTable {
		row := rows[i]
		var keys []string
		for k := range row {
			keys = append(keys, k)
		}
		sortStrings(keys)
		if !reflect.DeepEqual(keys, wantKeys) {
			t.Errorf("%s: keys %v, want exactly %v", want.id, keys, wantKeys)
		}
		archs := []string{}
		for _, a := range row["architectures"].([]any) {
			archs = append(archs, a.(string))
		}
		dep := row["deprecation"].(map[string]any)
		got := []any{row["identifier"], row["name"], row["family"], row["os"], row["sdk"], archs, dep["phase1"], dep["phase2"]}
		exp := []any{want.id, want.name, want.family, want.os, want.sdk, want.archs, nullable(want.phase1), nullable(want.phase2)}
		if !reflect.DeepEqual(got, exp) {
			t.Errorf("row %d:\n got %v\nwant %v", i, got, exp)
		}
		// On 2022-06-01: phase 2 passed for those whose phase-2 date is before it.
		wantStatus := "supported"
		if want.phase1 != "" && want.phase1 <= "2022-06-01" {
			wantStatus = "deprecated-phase1"
		}
		if want.phase2 != "" && want.phase2 <= "2022-06-01" {
			wantStatus = "deprecated-phase2"
		}
		if row["status"] != wantStatus {
			t.Errorf("%s on 2022-06-01: status %v, want %s", want.id, row["status"], wantStatus)
		}
	}
}

func TestRuntimesTable(t *testing.T) {
	r := mustCLI(t, "", nil, "runtimes", "--date", "2021-08-01")
	for _, want := range []string{"IDENTIFIER", "python3.9", "boto3 1.18.55, botocore 1.21.55", "deprecated phase 1 (since 2021-07-15)", "Amazon Linux 2"} {
		if !contains(r.stdout, want) {
			t.Errorf("runtimes table lacks %q:\n%s", want, r.stdout)
		}
	}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
