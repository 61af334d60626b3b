// Command extension is the external Lambda extension of rtbuild's tests,
// installed from a layer as /opt/extensions/rtbuild-test-extension. It speaks
// the Extensions API (base /2020-01-01/extension) at AWS_LAMBDA_RUNTIME_API
// with the standard library only: it registers for INVOKE and SHUTDOWN under
// its file name, then loops on event/next, printing one line per step to
// stdout (the emulator forwards it to the container's output), and exits on
// SHUTDOWN.
//
// Build: CGO_ENABLED=0 GOOS=linux GOARCH=amd64|arm64 go build -C testdata/tools -o BIN ./extension
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
)

type event struct {
	EventType  string `json:"eventType"`
	RequestID  string `json:"requestId"`
	ShutdownRe string `json:"shutdownReason"`
}

func main() {
	name := filepath.Base(os.Args[0])
	api := os.Getenv("AWS_LAMBDA_RUNTIME_API")
	if api == "" {
		fail(name, "AWS_LAMBDA_RUNTIME_API is not set")
	}
	base := "http://" + api + "/2020-01-01/extension"

	req, err := http.NewRequest(http.MethodPost, base+"/register", bytes.NewBufferString(`{"events":["INVOKE","SHUTDOWN"]}`))
	if err != nil {
		fail(name, "register: %v", err)
	}
	req.Header.Set("Lambda-Extension-Name", name)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fail(name, "register: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	id := resp.Header.Get("Lambda-Extension-Identifier")
	if resp.StatusCode != http.StatusOK || id == "" {
		fail(name, "register: %s (identifier %q): %s", resp.Status, id, body)
	}
	fmt.Printf("%s registered id=%s\n", name, id)

	for {
		req, err := http.NewRequest(http.MethodGet, base+"/event/next", nil)
		if err != nil {
			fail(name, "next: %v", err)
		}
		req.Header.Set("Lambda-Extension-Identifier", id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fail(name, "next: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			fail(name, "next: %s: %s", resp.Status, body)
		}
		var ev event
		if err := json.Unmarshal(body, &ev); err != nil {
			fail(name, "next: %v: %s", err, body)
		}
		switch ev.EventType {
		case "INVOKE":
			fmt.Printf("%s event INVOKE requestId=%s\n", name, ev.RequestID)
		case "SHUTDOWN":
			fmt.Printf("%s event SHUTDOWN reason=%s\n", name, ev.ShutdownRe)
			return
		default:
			fmt.Printf("%s event %s\n", name, ev.EventType)
		}
	}
}

func fail(name, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s: %s\n", name, fmt.Sprintf(format, args...))
	os.Exit(1)
}
