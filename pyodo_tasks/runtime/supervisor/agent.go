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
//	{"event":"done","code":C,"ms":T,"syncMs":..,"buildMs":..,"servingMs":..,"error":"..",
//	 "background":true}
//
// "ms" values count from the moment the request line was read. A sync failure ends the request
// with code 1 and "error" (the rest of its tar is read and discarded, so the stream stays in
// step). "code" is the build command's exit status (assemble-and-restart: 0 = built and RUNNING).
// "serving" is found by watching the supervisor for a new app pid and then connecting to the
// ports on 127.0.0.1; without ports, or when the app was not restarted (hotReloadCapable),
// servingMs is the build's end.
//
// Done at serving: when the request has ports and the restarted app accepts on every one of them
// before the command ends, "done" goes out at that moment with code 0, buildMs = servingMs and
// "background":true, instead of after `ctl restart` has waited the supervisor's startsecs. The
// command's rest still runs, detached: its output is read and dropped (never mixed into a later
// request's events), and the next request with "build" waits for it to end before its own build
// starts; if it then exited non-zero (the app died within startsecs), that request's output says
// so in a "[pyodo] the previous build-and-restart exited with code N ..." line. When stdin closes
// the agent waits for it (at most the config's buildwait) before it exits. Builds of different
// agents (one per `doit push`) are serialised the same way by a flock on agent-build.lock beside
// the supervisor's socket, held until the command ends.
//
// Two builds never overlap (two S2I assembles clearing and copying the same tree fail with "File
// exists"; two package managers corrupt their cache): a build still running after buildwait was
// made stale by the newer sync, so it is stopped (its process group: SIGTERM, then SIGKILL after
// stopGrace) before the new one starts, and the new request's output says so. The same holds
// when the agent exits with its client gone: nothing of a build outlives its agent by more than
// buildwait. Without ports, or when serving is
// not seen before the command ends, "done" waits for the command's exit code as before.
package main

import (
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
	"syscall"
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
	// Background: "done" went out at serving; the command's rest (startsecs) still runs.
	Background bool `json:"background,omitempty"`
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

// stopGrace is how long a stale build has between SIGTERM and SIGKILL of its process group.
const stopGrace = 5 * time.Second

func runAgent(cfg config, defaultCommand []string) int {
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	out := &emitter{enc: json.NewEncoder(os.Stdout)}
	out.emit(agentEvent{Event: "hello", Version: agentVersion})
	var last *command // the latest build-and-restart, maybe still running after its "done"
	for {
		line, err := in.ReadBytes('\n')
		if len(strings.TrimSpace(string(line))) == 0 {
			if err != nil {
				// stdin closed, the client is gone: let the build finish (the app's restart is
				// confirmed by it), within the bound a next build would wait.
				last.finish(cfg.buildwait)
				return 0
			}
			continue
		}
		started := time.Now()
		var req agentRequest
		if jerr := json.Unmarshal(line, &req); jerr != nil {
			// Without a valid header the framing of what follows is unknown: give up cleanly.
			out.emit(agentEvent{Event: "done", Code: 2, Error: "bad request: " + jerr.Error()})
			last.finish(cfg.buildwait)
			return 2
		}
		if len(req.Command) == 0 {
			req.Command = defaultCommand
		}
		last = handle(cfg, req, in, out, started, last)
	}
}

// handle answers one request; it returns the build command it started (nil: none), which may
// still run when "done" was reported at serving, or `last` when it started none.
func handle(cfg config, req agentRequest, in *bufio.Reader, out *emitter, started time.Time,
	last *command) *command {
	done := agentEvent{ID: req.ID, Event: "done"}
	files, err := applyChanges(req, in)
	done.SyncMs = millis(started)
	if err != nil {
		done.Code, done.Error, done.Ms = 1, err.Error(), millis(started)
		out.emit(done)
		return last
	}
	out.emit(agentEvent{ID: req.ID, Event: "synced", Ms: done.SyncMs, Files: files})
	if !req.Build {
		done.Ms = millis(started)
		out.emit(done)
		return last
	}
	waitPrevious(last, cfg.buildwait, req.ID, out)
	cmd := build(cfg, req, out, started, &done)
	done.Ms = millis(started)
	out.emit(done)
	return cmd
}

// waitPrevious lets the command an earlier request left running end before this build starts
// (two builds must not overlap): after `limit` it is stopped; a failure it had after its "done"
// is told as output here.
func waitPrevious(last *command, limit time.Duration, id int, out *emitter) {
	if last == nil {
		return
	}
	if !last.wait(limit) {
		last.finish(0)
		out.emit(agentEvent{ID: id, Event: "output", Text: fmt.Sprintf(
			"[pyodo] the previous build-and-restart still ran after %s: stopped it, this sync "+
				"supersedes it", limit)})
		return
	}
	if last.detached && last.code != 0 {
		out.emit(agentEvent{ID: id, Event: "output", Text: fmt.Sprintf(
			"[pyodo] the previous build-and-restart exited with code %d after the app served "+
				"(it stopped within startsecs?)", last.code)})
	}
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

// command is one run of the build-and-restart command, which may outlive its request.
type command struct {
	pgid     int // its process group (the build and what it started), for stopping it
	mu       sync.Mutex
	detached bool          // its request's "done" went out at serving: its output is dropped
	ended    bool          // it exited and its output was read
	code     int           // its exit status, once ended
	endMs    float64       // when it ended, from its request's start
	exited   chan struct{} // closed once ended
}

// wait waits up to limit for the command to end (a nil command has); false on timeout.
func (c *command) wait(limit time.Duration) bool {
	if c == nil {
		return true
	}
	select {
	case <-c.exited:
		return true
	case <-time.After(limit):
		return false
	}
}

// finish waits up to limit for the command to end, then stops its process group: SIGTERM, and
// SIGKILL if it still runs after stopGrace. It returns once the command ended (bounded: a killed
// group ends).
func (c *command) finish(limit time.Duration) {
	if c == nil || c.wait(limit) {
		return
	}
	stopGroup(c.pgid, c.exited)
}

// stopGroup sends SIGTERM to the process group, then SIGKILL once stopGrace passed without
// `ended` closing; it returns when `ended` closes (or, with a nil channel, after the grace).
func stopGroup(pgid int, ended <-chan struct{}) {
	if pgid <= 1 {
		return
	}
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-ended:
		return
	case <-time.After(stopGrace):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	if ended != nil {
		select {
		case <-ended:
		case <-time.After(stopGrace):
		}
	}
}

// detach marks a still running command as no longer its request's: false when it already ended
// (its request then reports its real exit code).
func (c *command) detach() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return false
	}
	c.detached = true
	return true
}

// startCommand starts req's command; its output goes out as "output" events of req until it is
// detached, then to nowhere (always read, so the command never blocks on a full pipe).
func startCommand(req agentRequest, out *emitter, started time.Time, lock *os.File) (*command,
	error) {
	cmd := exec.Command(req.Command[0], req.Command[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own group, stopped as one
	reader, writer := io.Pipe()
	cmd.Stdout, cmd.Stderr = writer, writer
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &command{pgid: cmd.Process.Pid, exited: make(chan struct{})}
	if lock != nil { // who holds the lock, for an agent that waited too long for it
		_ = lock.Truncate(0)
		_, _ = lock.WriteAt([]byte(strconv.Itoa(c.pgid)), 0)
	}
	lines := make(chan struct{})
	go func() {
		scanner := bufio.NewScanner(reader)
		scanner.Buffer(make([]byte, 64*1024), 1<<20)
		for scanner.Scan() {
			c.mu.Lock()
			if !c.detached {
				out.emit(agentEvent{ID: req.ID, Event: "output", Text: scanner.Text()})
			}
			c.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, reader)
		close(lines)
	}()
	go func() {
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
		c.mu.Lock()
		c.ended, c.code, c.endMs = true, code, millis(started)
		c.mu.Unlock()
		if lock != nil {
			_ = lock.Close() // releases the flock: another agent's build may start
		}
		close(c.exited)
	}()
	return c, nil
}

// build runs the build-and-restart command, streaming its output, and fills done's code,
// buildMs and servingMs (from `started`). When the request has ports and the restarted app
// accepts on all of them before the command ends, done is filled at that moment (code 0,
// "background": true) and the command is left running, detached; it is returned so that the
// next build waits for it.
func build(cfg config, req agentRequest, out *emitter, started time.Time,
	done *agentEvent) *command {
	lock := buildLock(cfg.socket, cfg.buildwait, req.ID, out)
	_, pidBefore := supervisorStatus(cfg.socket)
	c, err := startCommand(req, out, started, lock)
	if err != nil {
		if lock != nil {
			_ = lock.Close()
		}
		out.emit(agentEvent{ID: req.ID, Event: "output", Text: "[pyodo] " + err.Error()})
		done.Code, done.BuildMs = 127, millis(started)
		return nil
	}
	servingAt := make(chan float64, 1)
	go watchServing(cfg.socket, pidBefore, req.Ports, started, c.exited, servingAt, out, req.ID)
	servingMs := <-servingAt // at serving, or 0 once the command ended without it
	if servingMs > 0 && len(req.Ports) > 0 && c.detach() {
		done.Code, done.BuildMs, done.ServingMs, done.Background = 0, servingMs, servingMs, true
		return c
	}
	<-c.exited
	if c.code < 0 {
		out.emit(agentEvent{ID: req.ID, Event: "output", Text: "[pyodo] the build-and-restart " +
			"was stopped by a signal (a newer sync stops a build that runs past buildwait)"})
	}
	done.Code, done.BuildMs, done.ServingMs = c.code, c.endMs, servingMs
	if servingMs == 0 && c.code == 0 {
		done.ServingMs = c.endMs
	}
	return c
}

// buildLock takes the lock that serialises build commands across agents (each `doit push` runs
// its own agent, and an earlier one may still be waiting out its restart's startsecs after its
// "done"): an exclusive flock on a file beside the supervisor's socket, held until the command
// ends; the file names the holder's process group. After `limit` the holder's build is stopped
// (it is stale) and the lock taken; nil (no lock, the build goes ahead, and says so) only when
// the file cannot be opened or the stopped build's lock is still not free.
func buildLock(socket string, limit time.Duration, id int, out *emitter) *os.File {
	_ = os.MkdirAll(filepath.Dir(socket), 0o755) // the daemon makes it; an agent may come first
	f, err := os.OpenFile(filepath.Join(filepath.Dir(socket), "agent-build.lock"),
		os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil
	}
	if err = flockWithin(f, limit); errors.Is(err, syscall.EWOULDBLOCK) {
		holder, _ := os.ReadFile(f.Name())
		pgid, _ := strconv.Atoi(strings.TrimSpace(string(holder)))
		freed := make(chan struct{})
		go func() { // the holder's lock is freed when its build ends: that ends stopGroup
			if flockWithin(f, 2*stopGrace+time.Second) == nil {
				close(freed)
			}
		}()
		stopGroup(pgid, freed)
		select {
		case <-freed:
			err = nil
			out.emit(agentEvent{ID: id, Event: "output", Text: fmt.Sprintf(
				"[pyodo] another build-and-restart still ran after %s: stopped it, this sync "+
					"supersedes it", limit)})
		case <-time.After(3*stopGrace + time.Second):
		}
	}
	if err != nil {
		out.emit(agentEvent{ID: id, Event: "output",
			Text: "[pyodo] could not wait for another build-and-restart: " + err.Error()})
		_ = f.Close()
		return nil
	}
	return f
}

// flockWithin takes an exclusive flock on f, polling for at most limit (EWOULDBLOCK after it).
func flockWithin(f *os.File, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil || !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
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
