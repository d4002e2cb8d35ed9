// agent.go: `supervisor agent`, the resident end of pyodo's one-round-trip edit protocol.
//
// Why: every edit used to cost two or three `kubectl exec` sessions (tar, rm, then
// assemble-and-restart), each a new TLS websocket through the API server and a new runc exec.
// pyodo now opens ONE exec of `supervisor agent` per app container and keeps it: each edit is one
// request on that open stream carrying the change set (deletions and a tar of what changed) and
// asking for the build-and-restart, answered by events on stdout.
//
// Protocol (stdin -> agent): a request is one JSON line
//
//	{"id":N,"dest":"/tmp/src","mkdir":true,"delete":["a/b"],"tar":true,"build":true,"ports":[3000]}
//
// followed, when "tar" is true, by the tar stream cut into chunks: a 4-byte big-endian length,
// then that many bytes; a zero length ends it (so the client builds the tar while sending and
// never needs its size). Requests are handled one at a time, in order.
//
// Events (agent -> stdout), one JSON object per line, each with the request's "id":
//
//	{"event":"hello","version":1}                     once, at start
//	{"event":"synced","ms":T,"files":N}               deletions and extraction done
//	{"event":"output","text":"..."}                   one line of the build's output
//	{"event":"serving","ms":T}                        the restarted app accepts on every port
//	{"event":"done","code":C,"ms":T,"syncMs":..,"buildMs":..,"servingMs":..,"error":".."}
//
// "ms" values count from the moment the request line was read. A sync failure ends the request
// with code 1 and "error" (the rest of its tar is read and discarded, so the stream stays in
// step). "code" is the build command's exit status (assemble-and-restart: 0 = built and RUNNING).
// "serving" is found by watching the supervisor for a new app pid and then connecting to the
// ports on 127.0.0.1; without ports, or when the app was not restarted (hotReloadCapable),
// servingMs is the build's end.
package main

import (
	"archive/tar"
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

const agentVersion = 1

type agentRequest struct {
	ID      int      `json:"id"`
	Dest    string   `json:"dest"`
	Mkdir   bool     `json:"mkdir"`
	Delete  []string `json:"delete"`
	Tar     bool     `json:"tar"`
	Build   bool     `json:"build"`
	Command []string `json:"command"`
	Ports   []int    `json:"ports"`
}

type agentEvent struct {
	ID        int     `json:"id"`
	Event     string  `json:"event"`
	Version   int     `json:"version,omitempty"`
	Text      string  `json:"text,omitempty"`
	Code      int     `json:"code"`
	Ms        float64 `json:"ms"`
	Files     int     `json:"files,omitempty"`
	SyncMs    float64 `json:"syncMs,omitempty"`
	BuildMs   float64 `json:"buildMs,omitempty"`
	ServingMs float64 `json:"servingMs,omitempty"`
	Error     string  `json:"error,omitempty"`
}

type emitter struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (e *emitter) emit(ev agentEvent) {
	e.mu.Lock()
	defer e.mu.Unlock()
	_ = e.enc.Encode(ev) // one Write per event: a line never interleaves with another
}

func millis(since time.Time) float64 {
	return float64(time.Since(since).Microseconds()) / 1000
}

func runAgent(cfg config, defaultCommand []string) int {
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	out := &emitter{enc: json.NewEncoder(os.Stdout)}
	out.emit(agentEvent{Event: "hello", Version: agentVersion})
	for {
		line, err := in.ReadBytes('\n')
		if len(strings.TrimSpace(string(line))) == 0 {
			if err != nil {
				return 0 // stdin closed: the client is gone
			}
			continue
		}
		started := time.Now()
		var req agentRequest
		if jerr := json.Unmarshal(line, &req); jerr != nil {
			// Without a valid header the framing of what follows is unknown: give up cleanly.
			out.emit(agentEvent{Event: "done", Code: 2, Error: "bad request: " + jerr.Error()})
			return 2
		}
		if len(req.Command) == 0 {
			req.Command = defaultCommand
		}
		handle(cfg, req, in, out, started)
	}
}

func handle(cfg config, req agentRequest, in *bufio.Reader, out *emitter, started time.Time) {
	done := agentEvent{ID: req.ID, Event: "done"}
	files, err := applyChanges(req, in)
	done.SyncMs = millis(started)
	if err != nil {
		done.Code, done.Error, done.Ms = 1, err.Error(), millis(started)
		out.emit(done)
		return
	}
	out.emit(agentEvent{ID: req.ID, Event: "synced", Ms: done.SyncMs, Files: files})
	if !req.Build {
		done.Ms = millis(started)
		out.emit(done)
		return
	}
	code, servingMs, buildMs := build(cfg, req, out, started)
	done.Code, done.BuildMs, done.ServingMs, done.Ms = code, buildMs, servingMs, millis(started)
	out.emit(done)
}

// applyChanges deletes, then extracts the request's tar (if any) under req.Dest. On an error the
// rest of the tar chunks are still consumed.
func applyChanges(req agentRequest, in *bufio.Reader) (int, error) {
	var chunks *chunkReader
	if req.Tar {
		chunks = &chunkReader{r: in}
		defer func() { _, _ = io.Copy(io.Discard, chunks) }()
	}
	dest := filepath.Clean(req.Dest)
	if !filepath.IsAbs(dest) || dest == "/" {
		return 0, fmt.Errorf("destination %q must be an absolute path other than /", req.Dest)
	}
	if req.Mkdir {
		if err := os.MkdirAll(dest, 0o755); err != nil {
			return 0, err
		}
	}
	for _, name := range req.Delete {
		target, err := within(dest, name)
		if err != nil {
			return 0, err
		}
		if err := os.RemoveAll(target); err != nil {
			return 0, err
		}
	}
	if chunks == nil {
		return 0, nil
	}
	return extract(chunks, dest)
}

// chunkReader reads the length-prefixed chunk stream until its zero-length terminator.
type chunkReader struct {
	r         *bufio.Reader
	remaining uint32
	ended     bool
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for c.remaining == 0 {
		if c.ended {
			return 0, io.EOF
		}
		var size [4]byte
		if _, err := io.ReadFull(c.r, size[:]); err != nil {
			c.ended = true
			return 0, io.ErrUnexpectedEOF
		}
		c.remaining = binary.BigEndian.Uint32(size[:])
		if c.remaining == 0 {
			c.ended = true
			return 0, io.EOF
		}
	}
	if uint32(len(p)) > c.remaining {
		p = p[:c.remaining]
	}
	n, err := c.r.Read(p)
	c.remaining -= uint32(n)
	if err != nil && n == 0 {
		c.ended = true
		return 0, io.ErrUnexpectedEOF
	}
	return n, nil
}

// within joins a relative archive path onto dest, refusing anything that would leave it.
func within(dest, name string) (string, error) {
	clean := path.Clean(name)
	if name == "" || path.IsAbs(name) || clean == "." || clean == ".." ||
		strings.HasPrefix(clean, "../") || strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("%q: not a relative path inside %s", name, dest)
	}
	return filepath.Join(dest, filepath.FromSlash(clean)), nil
}

type dirTime struct {
	path  string
	mtime time.Time
}

// extract writes a tar stream under dest like `tar -xf - -C dest` does for pyodo's archives:
// directories, regular files (written to a temporary name, then renamed over the old one, so a
// running app never reads half a file), symlinks; modes and mtimes kept. A parent directory that
// is a symlink is refused, so an archive cannot write through a link out of dest.
func extract(r io.Reader, dest string) (int, error) {
	tr := tar.NewReader(r)
	safeDirs := map[string]bool{dest: true}
	var dirs []dirTime
	files := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return files, fmt.Errorf("reading the archive: %w", err)
		}
		target, err := within(dest, h.Name)
		if err != nil {
			return files, err
		}
		if err := checkParents(dest, filepath.Dir(target), safeDirs); err != nil {
			return files, err
		}
		mode := os.FileMode(h.Mode).Perm()
		switch h.Typeflag {
		case tar.TypeDir:
			if fi, err := os.Lstat(target); err == nil && !fi.IsDir() {
				_ = os.Remove(target)
			}
			if err := os.MkdirAll(target, 0o755); err != nil {
				return files, err
			}
			_ = os.Chmod(target, mode)
			dirs = append(dirs, dirTime{target, h.ModTime})
		case tar.TypeReg:
			if err := writeFile(target, tr, mode, h.ModTime); err != nil {
				return files, err
			}
		case tar.TypeSymlink:
			if err := os.RemoveAll(target); err != nil {
				return files, err
			}
			if err := os.Symlink(h.Linkname, target); err != nil {
				return files, err
			}
		default:
			return files, fmt.Errorf("%s: unsupported archive entry type %q", h.Name, h.Typeflag)
		}
		files++
	}
	// Directory mtimes last (creating their entries changed them), deepest first.
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = os.Chtimes(dirs[i].path, dirs[i].mtime, dirs[i].mtime)
	}
	return files, nil
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

func writeFile(target string, data io.Reader, mode os.FileMode, mtime time.Time) error {
	if fi, err := os.Lstat(target); err == nil && fi.IsDir() {
		if err := os.RemoveAll(target); err != nil {
			return err
		}
	}
	tmp := filepath.Join(filepath.Dir(target), ".pyodo-"+strconv.Itoa(os.Getpid())+"-"+
		filepath.Base(target))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, mode)
	}
	if err == nil {
		err = os.Chtimes(tmp, mtime, mtime)
	}
	if err == nil {
		err = os.Rename(tmp, target)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// build runs the build-and-restart command, streaming its output, and reports when the
// restarted app serves. Returns the exit code, servingMs and buildMs (both from `started`).
func build(cfg config, req agentRequest, out *emitter, started time.Time) (int, float64, float64) {
	_, pidBefore := supervisorStatus(cfg.socket)
	cmd := exec.Command(req.Command[0], req.Command[1:]...)
	reader, writer := io.Pipe()
	cmd.Stdout, cmd.Stderr = writer, writer
	if err := cmd.Start(); err != nil {
		out.emit(agentEvent{ID: req.ID, Event: "output", Text: "[pyodo] " + err.Error()})
		return 127, 0, millis(started)
	}
	finished := make(chan struct{})
	servingAt := make(chan float64, 1)
	go watchServing(cfg.socket, pidBefore, req.Ports, started, finished, servingAt, out, req.ID)
	lines := make(chan struct{})
	go func() {
		scanner := bufio.NewScanner(reader)
		scanner.Buffer(make([]byte, 64*1024), 1<<20)
		for scanner.Scan() {
			out.emit(agentEvent{ID: req.ID, Event: "output", Text: scanner.Text()})
		}
		_, _ = io.Copy(io.Discard, reader)
		close(lines)
	}()
	code := 0
	if err := cmd.Wait(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else {
			code = 1
		}
	}
	_ = writer.Close()
	<-lines
	buildMs := millis(started)
	close(finished)
	servingMs := <-servingAt
	if servingMs == 0 && code == 0 {
		servingMs = buildMs
	}
	return code, servingMs, buildMs
}

// watchServing polls the supervisor for a new app pid, then the ports, until the app accepts or
// the build ends; it emits "serving" and sends its time (0 when not seen) on `at`.
func watchServing(socket string, pidBefore int, ports []int, started time.Time,
	finished <-chan struct{}, at chan<- float64, out *emitter, id int) {
	for {
		state, pid := supervisorStatus(socket)
		if pid != 0 && pid != pidBefore && (state == "RUNNING" || state == "STARTING") &&
			accepting(ports) {
			ms := millis(started)
			out.emit(agentEvent{ID: id, Event: "serving", Ms: ms})
			at <- ms
			return
		}
		select {
		case <-finished:
			at <- 0
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func accepting(ports []int) bool {
	for _, port := range ports {
		conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
			200*time.Millisecond)
		if err != nil {
			return false
		}
		_ = conn.Close()
	}
	return true
}

// supervisorStatus asks the daemon for its status line: state and app pid (0 when none).
func supervisorStatus(socket string) (string, int) {
	conn, err := net.DialTimeout("unix", socket, 200*time.Millisecond)
	if err != nil {
		return "UNKNOWN", 0
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	fmt.Fprintln(conn, "status")
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return "UNKNOWN", 0
	}
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return "UNKNOWN", 0
	}
	pid := 0
	for _, field := range fields[1:] {
		if value, ok := strings.CutPrefix(field, "pid="); ok {
			pid, _ = strconv.Atoi(value)
		}
	}
	return fields[0], pid
}
