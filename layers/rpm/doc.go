// Package rpm installs packages of yum repositories (Amazon Linux's) into
// layers without yum or rpm: Resolve reads a repository's repodata and
// pins a closure of packages, Install unpacks one .rpm into a layer.
//
// Resolution: repomd.xml names the primary metadata (.gz, .xz, .zst, .bz2
// or plain .xml), whose checksums (checksum of the file, open-checksum of
// its content) are verified before it is used. Only packages of the
// requested arch and noarch are considered; a package's Requires are
// followed transitively. rpmlib(...) requirements are ignored (they are
// about the rpm that installs, and nothing here runs rpm). A requirement is
// satisfied by a package's name and EVR, a provides entry whose range
// overlaps (rpm's rpmdsCompare semantics, versions compared with rpm's
// rpmvercmp), or, for a path, a <file> it lists. A requirement already met
// by a chosen package adds nothing; otherwise among the packages providing
// it the one named like the requirement wins, then the shortest name, then
// the lowest name, and of that name the highest EVR (arch over noarch at an
// equal EVR). A package name is chosen at one EVR only. Rich (boolean)
// requirements are followed: "and" and "with" need every operand, "or" the
// first that can be met (none when one already is), "if"/"unless" (with
// "else") look at what is chosen or excluded when the requirement is
// reached, "without" needs its first operand. Names in
// ResolveOptions.Exclude are in the base image: whatever they provide
// counts as satisfied and they are never returned, even when requested.
// Requests are names or name-version or name-version-release ("python3",
// "python3-3.7.10-1.amzn2.0.1"; an epoch as "1:version").
//
// Installing: the lead, the signature header (its sha256, or else sha1,
// of the main header is checked when present) and the main header are read by a small
// hand-written reader (no maintained Go RPM reader without cgo or OpenPGP
// dependencies is available to this project); the payload digest
// (PAYLOADDIGEST: sha1, sha256, sha384 or sha512) is verified before
// anything is written; the payload (gzip, xz, lzma, zstd, bzip2) is a cpio
// "newc"/"crc" archive read with github.com/cavaliergopher/cpio.
// Regular files, directories, symbolic links and hard links are written
// with the cpio modes; owners become 0:0 and mtimes are clamped by the
// layer writer. Setuid and setgid bits of regular files are cleared unless
// InstallOptions.AllowSetuid (a directory's setgid, which only makes new
// files inherit its group, is kept). Hard links: in a newc payload every
// member of a link group but the last has no data; the member with the
// data is written as the regular file and the others as hard links to it.
// Device nodes, FIFOs and sockets are refused with an *unpack.EntryError
// naming the RPM and the path (a layer holds none). Scriptlets (%pre,
// %post, triggers) are not run and %ghost files, which have no payload
// data, are not created. rpm's stripped cpio format for files over 4 GiB
// ("07070X") is refused. A path two packages both hold is refused by the
// layer writer unless it is a directory (rpm accepts identical shared
// files; a layer keeps one meaning per path), and a directory written
// twice keeps its first entry: install in dependency order (a "filesystem"
// package first) so that directories get their owning package's mode
// rather than the 0755 the writer gives the parents it creates.
//
// Errors name the package and the chain that pulled it in
// ("app 1-1 -> python36 3.6.8-1 requires libpython3.6m.so.1.0()(64bit);
// nothing in <repo> provides it"), and install errors are
// *unpack.EntryError values naming the RPM's URL and the path.
package rpm
