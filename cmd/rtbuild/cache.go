package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rtbuild/rtbuild/builder"
	"github.com/rtbuild/rtbuild/layers/cachemgmt"
)

// cacheTimeLayout is how tables show last-use times (UTC).
const cacheTimeLayout = "2006-01-02 15:04:05"

func newCacheCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "List, total and prune the download store and layer cache",
		Long: joinLines(
			"Manage rtbuild's cache directory (--cache-dir, $RTBUILD_CACHE_DIR, or the user cache dir + /rtbuild):",
			"downloads (verified upstream artifacts) and layers (built component layers).",
			"",
			"\"Last used\" is the entry's file modification time: rtbuild does not touch cache",
			"files when it reads them, so it is when the entry was last written.",
		),
		Example: `  rtbuild cache ls
  rtbuild cache du --format json
  rtbuild cache prune --keep-storage 5GB
  rtbuild cache prune --older-than 30d
  rtbuild cache export rtbuild-cache.tar && rtbuild cache import rtbuild-cache.tar`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return &builder.UsageError{Msg: "missing subcommand: use `rtbuild cache ls`, `du`, `prune`, `export` or `import`"}
		},
	}
	cmd.AddCommand(newCacheLsCommand(g), newCacheDuCommand(g), newCachePruneCommand(g), newCacheExportCommand(g), newCacheImportCommand(g))
	return cmd
}

// cacheEntryRow is one entry in `rtbuild cache ls|prune --format json`.
type cacheEntryRow struct {
	Kind     string   `json:"kind"`
	Digest   string   `json:"digest"`
	Keys     []string `json:"keys,omitempty"`
	URLs     int      `json:"urls,omitempty"`
	Size     int64    `json:"size"`
	LastUsed string   `json:"lastUsed"` // RFC 3339, UTC
}

func entryRows(entries []cachemgmt.Entry) []cacheEntryRow {
	rows := make([]cacheEntryRow, 0, len(entries))
	for _, e := range entries {
		rows = append(rows, cacheEntryRow{
			Kind: e.Kind, Digest: e.Digest, Keys: e.Keys, URLs: e.URLs, Size: e.Size,
			LastUsed: e.LastUsed.UTC().Format(time.RFC3339),
		})
	}
	return rows
}

func checkFormat(format string) error {
	if format != "table" && format != "json" {
		return &builder.UsageError{Msg: fmt.Sprintf("invalid --format %q: use table or json", format)}
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// shortID abbreviates a digest or key for tables.
func shortID(s string) string {
	const n = 12
	prefix := ""
	if len(s) > 7 && s[:7] == "sha256:" {
		prefix, s = "sha256:", s[7:]
	}
	if len(s) > n {
		s = s[:n]
	}
	return prefix + s
}

func writeEntryTable(w io.Writer, entries []cachemgmt.Entry) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tID\tSIZE\tLAST USED (UTC)")
	for _, e := range entries {
		id := shortID(e.ID())
		switch {
		case e.Kind == cachemgmt.KindLayer && len(e.Keys) == 0:
			id += " (no key)"
		case len(e.Keys) > 1:
			id += fmt.Sprintf(" (+%d key%s)", len(e.Keys)-1, map[bool]string{true: "s"}[len(e.Keys) > 2])
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Kind, id, builder.HumanBytes(e.Size), e.LastUsed.UTC().Format(cacheTimeLayout))
	}
	return tw.Flush()
}

// cacheEntries checks --format and lists the cache directory's entries.
func (g *globalFlags) cacheEntries(format string) ([]cachemgmt.Entry, error) {
	if err := checkFormat(format); err != nil {
		return nil, err
	}
	dir, err := g.resolveCacheDir()
	if err != nil {
		return nil, err
	}
	return cachemgmt.List(dir)
}

func newCacheLsCommand(g *globalFlags) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List cache entries: kind, digest or key, size, last used",
		Long: joinLines(
			"List the cache's entries, downloads then layers, most recently used first.",
			"ID is a download's digest or a layer's recipe key (the full values are in --format json).",
		),
		Example: `  rtbuild cache ls
  rtbuild cache ls --format json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			entries, err := g.cacheEntries(format)
			if err != nil {
				return err
			}
			if format == "json" {
				return writeJSON(cmd.OutOrStdout(), entryRows(entries))
			}
			return writeEntryTable(cmd.OutOrStdout(), entries)
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}

func newCacheDuCommand(g *globalFlags) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "du",
		Short: "Show the cache's disk usage per kind",
		Long: joinLines(
			"Show, per kind of cache entry (download: verified upstream artifacts and base-image",
			"blobs; layer: built component layers), the number of entries and the size of their",
			"blobs, then the total. The small key and URL records that name the blobs, and the",
			"temporary files of writes in progress, are not counted.",
		),
		Example: `  rtbuild cache du
  rtbuild cache du --format json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			entries, err := g.cacheEntries(format)
			if err != nil {
				return err
			}
			usage := cachemgmt.DiskUsage(entries)
			total := cachemgmt.Usage{Kind: "total"}
			for _, u := range usage {
				total.Entries += u.Entries
				total.Size += u.Size
			}
			if format == "json" {
				return writeJSON(cmd.OutOrStdout(), append(usage, total))
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KIND\tENTRIES\tSIZE")
			for _, u := range append(usage, total) {
				fmt.Fprintf(tw, "%s\t%d\t%s\n", u.Kind, u.Entries, builder.HumanBytes(u.Size))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}

func newCachePruneCommand(g *globalFlags) *cobra.Command {
	var format, keep, older string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove least recently used cache entries",
		Long: joinLines(
			"Remove whole cache entries: those last used longer ago than --older-than, then the least",
			"recently used ones until the cache holds at most --keep-storage. At least one flag is needed;",
			"--keep-storage 0 empties the cache.",
			"",
			"Safe alongside a running build: entries modified in the last minute and writes in progress",
			"are never removed, and a key or URL record is removed before the blob it names.",
		),
		Example: `  rtbuild cache prune --keep-storage 5GB
  rtbuild cache prune --older-than 30d
  rtbuild cache prune --older-than 720h --keep-storage 10GiB --dry-run`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			o := cachemgmt.PruneOptions{KeepStorage: -1, DryRun: dryRun}
			if keep == "" && older == "" {
				return &builder.UsageError{Msg: "cache prune needs --keep-storage SIZE or --older-than DURATION (--keep-storage 0 empties the cache)"}
			}
			if keep != "" {
				n, err := cachemgmt.ParseSize(keep)
				if err != nil {
					return &builder.UsageError{Msg: "--keep-storage: " + err.Error()}
				}
				o.KeepStorage = n
			}
			if older != "" {
				d, err := cachemgmt.ParseAge(older)
				if err != nil {
					return &builder.UsageError{Msg: "--older-than: " + err.Error()}
				}
				o.OlderThan = d
			}
			dir, err := g.resolveCacheDir()
			if err != nil {
				return err
			}
			removed, err := cachemgmt.Prune(dir, o)
			if err != nil {
				return err
			}
			if format == "json" {
				return writeJSON(cmd.OutOrStdout(), entryRows(removed))
			}
			var total int64
			for _, e := range removed {
				total += e.Size
			}
			if err := writeEntryTable(cmd.OutOrStdout(), removed); err != nil {
				return err
			}
			verb := "removed"
			if dryRun {
				verb = "would remove"
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%s %d entr%s, %s\n", verb, len(removed), plural(len(removed)), builder.HumanBytes(total))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&keep, "keep-storage", "", "keep at most SIZE in the cache (e.g. 5GB, 10GiB; 0 empties it)")
	f.StringVar(&older, "older-than", "", "remove entries last used longer ago than DURATION (e.g. 72h, 30d)")
	f.BoolVar(&dryRun, "dry-run", false, "list what would be removed without removing it")
	f.StringVar(&format, "format", "table", "output format: table or json (the removed entries)")
	return cmd
}

func plural(n int) string {
	if n == 1 {
		return "y"
	}
	return "ies"
}

func newCacheExportCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "export FILE",
		Short: "Write the cache (downloads, layers, fetched bases) to a tar file, for an air-gapped machine",
		Long: joinLines(
			"Write the cache directory's verified downloads, built layers and the base images",
			"`rtbuild fetch` saved to FILE (a tar, written atomically). `rtbuild cache import FILE`",
			"on another machine verifies every blob and adds them to its cache; then",
			"`rtbuild image --offline` builds there with the same digests.",
		),
		Example: `  rtbuild fetch python3.9 && rtbuild cache export rtbuild-cache.tar`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := g.resolveCacheDir()
			if err != nil {
				return err
			}
			st, err := cachemgmt.Export(dir, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "exported %d file(s), %s, from %s to %s\n", st.Files, builder.HumanBytes(st.Bytes), dir, args[0])
			return nil
		},
	}
}

func newCacheImportCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "import FILE",
		Short: "Add a cache export's verified blobs to the cache",
		Long: joinLines(
			"Read FILE, written by `rtbuild cache export`, into the cache directory: every blob is",
			"verified against its sha256 name before it is stored; what names a blob is added only",
			"once the blob is there; bases are merged into the saved bases. A corrupt or foreign",
			"member stops the import with an error; what was imported before it is valid.",
		),
		Example: `  rtbuild cache import rtbuild-cache.tar && rtbuild image python3.9 --offline`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := g.resolveCacheDir()
			if err != nil {
				return err
			}
			if _, err := os.Stat(args[0]); errors.Is(err, fs.ErrNotExist) {
				return &builder.UsageError{Msg: fmt.Sprintf("cache import: %s does not exist: give the file rtbuild cache export wrote", args[0])}
			}
			st, err := cachemgmt.Import(dir, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "imported %d file(s), %s, into %s (%d already present)\n", st.Files, builder.HumanBytes(st.Bytes), dir, st.Skipped)
			return nil
		},
	}
}
