package cache

import (
	"io/fs"
	"syscall"
)

// sysStamp adds the device, inode and ctime of fi to s.
func sysStamp(fi fs.FileInfo, s *stamp) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.Dev, s.Ino, s.Ctime = uint64(st.Dev), uint64(st.Ino), st.Ctim.Nano()
	}
}
