package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/rtbuild/rtbuild/builder"
	"github.com/rtbuild/rtbuild/manifests"
)

// newReporter picks the progress output of --progress: tty (a live view),
// plain (a line per state change), json (an object per event), or auto:
// tty when w is a terminal (other than TERM=dumb), plain otherwise.
func newReporter(mode string, w io.Writer) (builder.Reporter, error) {
	switch mode {
	case "auto":
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) && os.Getenv("TERM") != "dumb" {
			return builder.NewTTYReporter(w, false), nil
		}
		return builder.NewPlainReporter(w), nil
	case "tty":
		f, ok := w.(*os.File)
		return builder.NewTTYReporter(w, !ok || !term.IsTerminal(int(f.Fd()))), nil
	case "plain":
		return builder.NewPlainReporter(w), nil
	case "json":
		return builder.NewJSONReporter(w), nil
	}
	return nil, &builder.UsageError{Msg: fmt.Sprintf("invalid --progress %q: use auto, tty, plain or json", mode)}
}

// summary is the end-of-build summary of md, built since start.
func summary(start time.Time, md *builder.Metadata, stats builder.Stats, uploads *manifests.UploadCounter) *builder.Summary {
	s := &builder.Summary{
		Images: len(md.Images), Seconds: time.Since(start).Seconds(),
		LayersBuilt: stats.LayersBuilt, LayersCached: stats.LayersCached, BytesDownloaded: stats.BytesDownloaded,
	}
	for _, im := range md.Images {
		s.Platforms += len(im.Platforms)
	}
	if uploads != nil {
		s.BytesUploaded = uploads.Bytes()
	}
	return s
}
