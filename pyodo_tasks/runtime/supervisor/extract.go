// extract.go: the agent's tar extraction, `tar -xf - -C dest` for pyodo's archives.
//
// Why its own file and this shape: a full sync of a small-file tree is nearly all extraction,
// and on overlayfs each path syscall is expensive. Per regular file this does open (the temporary
// name, created with the final mode under umask 0), write, futimens through the fd, close and
// rename: two path syscalls instead of seven (lstat, open, close, chmod, chtimes, rename). Whether
// the target is a directory is learnt from rename's EISDIR, not asked first. Entries are read in
// order by one goroutine; small files are read into memory and written by a few workers, so
// several files are in the kernel at once; everything else (directories, symlinks, big files)
// is done by the reader, after a barrier when it could touch what a worker is writing.
package main

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// smallFile is the largest file handed to a worker (read into memory first).
const smallFile = 1 << 20

type dirTime struct {
	path  string
	mtime time.Time
}

type fileJob struct {
	index  int
	target string
	data   []byte
	mode   uint32
	mtime  time.Time
}

// extractor is one extraction: the reader's state plus the workers' first error.
type extractor struct {
	dest    string
	safe    map[string]bool // directories known to exist as real directories (not symlinks)
	pending map[string]bool // targets queued to a worker since the last barrier
	jobs    chan fileJob
	wg      sync.WaitGroup // queued jobs not finished
	workers sync.WaitGroup // worker goroutines
	mu      sync.Mutex
	errAt   int // entry index of the first error (-1: none)
	err     error
	tmpBase string
}

// extract writes a tar stream under dest: directories, regular files (written to a temporary
// name, then renamed over the old one, so a running app never reads half a file), symlinks;
// modes and mtimes kept. A parent directory that is a symlink is refused, so an archive cannot
// write through a link out of dest. Returns the number of entries written before the first error.
func extract(r io.Reader, dest string) (int, error) {
	old := syscall.Umask(0) // files are created with their final mode; restored before any build
	defer syscall.Umask(old)
	x := newExtractor(dest)
	tr := tar.NewReader(r)
	var dirs []dirTime
	entries := 0
	for ; x.firstError() == nil; entries++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			x.fail(entries, fmt.Errorf("reading the archive: %w", err))
			break
		}
		if dir, err := x.entry(entries, h, tr); err != nil {
			x.fail(entries, err)
			break
		} else if dir != nil {
			dirs = append(dirs, *dir)
		}
	}
	x.close()
	if at, err := x.errAt, x.firstError(); err != nil {
		return at, err
	}
	// Directory mtimes last (creating their entries changed them), deepest first.
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = os.Chtimes(dirs[i].path, dirs[i].mtime, dirs[i].mtime)
	}
	return entries, nil
}

func newExtractor(dest string) *extractor {
	n := min(max(runtime.NumCPU(), 2), 4)
	x := &extractor{
		dest:    dest,
		safe:    map[string]bool{dest: true},
		pending: map[string]bool{},
		jobs:    make(chan fileJob, 8*n),
		errAt:   -1,
		tmpBase: ".pyodo-" + strconv.Itoa(os.Getpid()) + "-",
	}
	for i := 0; i < n; i++ {
		x.workers.Add(1)
		go x.work()
	}
	return x
}

func (x *extractor) work() {
	defer x.workers.Done()
	for job := range x.jobs {
		if x.firstError() == nil {
			if err := x.writeBytes(job); err != nil {
				x.fail(job.index, err)
			}
		}
		x.wg.Done()
	}
}

func (x *extractor) close() {
	close(x.jobs)
	x.workers.Wait()
}

// barrier waits until every queued file is written.
func (x *extractor) barrier() {
	if len(x.pending) > 0 {
		x.wg.Wait()
		clear(x.pending)
	}
}

func (x *extractor) fail(index int, err error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.err == nil || index < x.errAt {
		x.err, x.errAt = err, index
	}
}

func (x *extractor) firstError() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.err
}

// entry applies one archive entry; a directory comes back for the mtime pass at the end.
func (x *extractor) entry(index int, h *tar.Header, tr io.Reader) (*dirTime, error) {
	target, err := within(x.dest, h.Name)
	if err != nil {
		return nil, err
	}
	parent := filepath.Dir(target)
	if !x.safe[parent] {
		x.barrier() // creating or replacing a parent must not race a worker inside it
		if err := checkParents(x.dest, parent, x.safe); err != nil {
			return nil, err
		}
	}
	if x.pending[target] || (x.safe[target] && h.Typeflag != tar.TypeDir) {
		x.barrier() // the same name again, or a directory becoming something else
	}
	mode := uint32(os.FileMode(h.Mode).Perm())
	switch h.Typeflag {
	case tar.TypeDir:
		return &dirTime{target, h.ModTime}, x.makeDir(target, os.FileMode(mode))
	case tar.TypeReg:
		return nil, x.regular(index, target, h, tr, mode)
	case tar.TypeSymlink:
		x.barrier()
		x.forget(target)
		if err := os.RemoveAll(target); err != nil {
			return nil, err
		}
		return nil, os.Symlink(h.Linkname, target)
	default:
		return nil, fmt.Errorf("%s: unsupported archive entry type %q", h.Name, h.Typeflag)
	}
}

// makeDir creates target with mode (umask is 0 here), or gives an existing one that mode; what
// is in the way and not a directory is removed first.
func (x *extractor) makeDir(target string, mode os.FileMode) error {
	if x.safe[target] {
		return os.Chmod(target, mode)
	}
	err := os.Mkdir(target, mode)
	if errors.Is(err, os.ErrExist) {
		if fi, lerr := os.Lstat(target); lerr == nil && !fi.IsDir() {
			if err := os.Remove(target); err != nil {
				return err
			}
			err = os.Mkdir(target, mode)
		} else {
			err = os.Chmod(target, mode)
		}
	}
	if err == nil {
		x.safe[target] = true
	}
	return err
}

// regular queues a small file to a worker, or writes a big one from the archive here.
func (x *extractor) regular(index int, target string, h *tar.Header, tr io.Reader, mode uint32) error {
	x.forget(target)
	job := fileJob{index: index, target: target, mode: mode, mtime: h.ModTime}
	if h.Size > smallFile {
		return x.writeFile(job, tr)
	}
	job.data = make([]byte, h.Size)
	if _, err := io.ReadFull(tr, job.data); err != nil {
		return fmt.Errorf("reading the archive: %w", err)
	}
	x.pending[target] = true
	x.wg.Add(1)
	x.jobs <- job
	return nil
}

// forget drops target and what is under it from the known directories (it is being replaced).
func (x *extractor) forget(target string) {
	if !x.safe[target] {
		return
	}
	prefix := target + string(filepath.Separator)
	for dir := range x.safe {
		if dir == target || strings.HasPrefix(dir, prefix) {
			delete(x.safe, dir)
		}
	}
}

func (x *extractor) writeBytes(job fileJob) error {
	return x.writeFile(job, nil)
}

// writeFile writes job.data (or, when from is set, what it reads) to a temporary name beside
// the target, created with the final mode, sets its times through the fd and renames it over
// the target (replacing a directory there).
func (x *extractor) writeFile(job fileJob, from io.Reader) error {
	tmp := filepath.Join(filepath.Dir(job.target), x.tmpBase+strconv.Itoa(job.index))
	fd, err := createTemp(tmp, job.mode)
	if err != nil {
		return err
	}
	if from != nil {
		err = copyToFd(fd, from)
	} else {
		err = writeAll(fd, job.data)
	}
	if err == nil {
		err = futimes(fd, job.mtime)
	}
	if cerr := syscall.Close(fd); err == nil {
		err = cerr
	}
	if err == nil {
		err = renameOver(tmp, job.target)
	}
	if err != nil {
		_ = syscall.Unlink(tmp)
		return &os.PathError{Op: "write", Path: job.target, Err: err}
	}
	return nil
}

func createTemp(tmp string, mode uint32) (int, error) {
	flags := syscall.O_WRONLY | syscall.O_CREAT | syscall.O_EXCL | syscall.O_CLOEXEC
	fd, err := syscall.Open(tmp, flags, mode)
	if errors.Is(err, syscall.EEXIST) { // left by an agent of the same pid that was killed
		_ = syscall.Unlink(tmp)
		fd, err = syscall.Open(tmp, flags, mode)
	}
	if err != nil {
		return -1, &os.PathError{Op: "create", Path: tmp, Err: err}
	}
	return fd, nil
}

func renameOver(tmp, target string) error {
	err := syscall.Rename(tmp, target)
	if errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.ENOTEMPTY) ||
		errors.Is(err, syscall.EEXIST) {
		if err := os.RemoveAll(target); err != nil {
			return err
		}
		err = syscall.Rename(tmp, target)
	}
	return err
}

func writeAll(fd int, data []byte) error {
	for len(data) > 0 {
		n, err := syscall.Write(fd, data)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

func copyToFd(fd int, from io.Reader) error {
	buf := make([]byte, 256*1024)
	for {
		n, err := from.Read(buf)
		if n > 0 {
			if werr := writeAll(fd, buf[:n]); werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the archive: %w", err)
		}
	}
}

// futimes sets atime and mtime of an open file: utimensat(fd, NULL, times, 0), Linux's futimens.
func futimes(fd int, mtime time.Time) error {
	ts := [2]syscall.Timespec{syscall.NsecToTimespec(mtime.UnixNano()),
		syscall.NsecToTimespec(mtime.UnixNano())}
	_, _, errno := syscall.Syscall6(syscall.SYS_UTIMENSAT, uintptr(fd), 0,
		uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func checkParents(dest, dir string, safe map[string]bool) error {
	if safe[dir] {
		return nil
	}
	if err := checkParents(dest, filepath.Dir(dir), safe); err != nil {
		return err
	}
	fi, err := os.Lstat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	case err != nil:
		return err
	case fi.Mode()&os.ModeSymlink != 0:
		return fmt.Errorf("%s is a symlink: refusing to write through it", dir)
	case !fi.IsDir():
		if err := os.Remove(dir); err != nil {
			return err
		}
		if err := os.Mkdir(dir, 0o755); err != nil {
			return err
		}
	}
	safe[dir] = true
	return nil
}
