// Command supervisor is the process supervisor of pyodo's init image.
//
// Why it exists: odo shipped ochinchina/supervisord, which the Go module proxy here does not
// serve, and Debian's busybox-static has no runit applets (runsv/runsvdir/sv). So pyodo ships
// this small, stdlib-only supervisor, built statically (CGO_ENABLED=0) so it runs in any builder
// image (glibc, musl or none). It supervises exactly one program, the app, and is driven over a
// Unix socket by `supervisor ctl start|stop|restart|status`. `supervisor agent` is the resident
// end of pyodo's one-exec-per-container edit protocol (agent.go).
//
// Behaviour (the contract the init scripts rely on):
//   - The daemon starts with the app stopped unless `autostart = true`: odo's "the user code has
//     not been copied yet so supervisord does not execute run". The first successful
//     assemble-and-restart starts it through `ctl restart`.
//   - The app runs in its own process group with the daemon's stdout/stderr, which are the
//     container's, so `kubectl logs` shows its output.
//   - When the app exits while wanted up, it is started again (0.5 s back-off doubling to 8 s for
//     quick crashes, reset once it stayed up 10 s). Whatever is left of its process group is
//     terminated first, so a restarted server does not find its port still taken.
//   - start/restart answer once the app stayed up `startsecs`; if it dies sooner they answer
//     BACKOFF and the supervisor keeps retrying.
//   - Status lines are `STATE key=value...`: RUNNING pid=N restarts=N, STARTING pid=N,
//     STOPPING pid=N, BACKOFF exit=N, STOPPED [exit=N].
//   - SIGTERM/SIGINT stop the app (TERM, then KILL after `stopsecs`) and end the daemon.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type config struct {
	program   string
	socket    string
	setup     string
	autostart bool
	startsecs time.Duration
	stopsecs  time.Duration
	buildwait time.Duration // how long a build waits for an earlier one before stopping it
}

func defaultConfPath() string {
	exe, err := os.Executable()
	if err != nil {
		return "/opt/odo/conf/supervisor.conf"
	}
	return filepath.Join(filepath.Dir(exe), "..", "conf", "supervisor.conf")
}

func loadConfig(path string) (config, error) {
	cfg := config{
		program:   "/opt/odo/bin/run",
		socket:    "/opt/odo/run/supervisor.sock",
		startsecs: time.Second,
		stopsecs:  10 * time.Second,
		buildwait: 2 * time.Minute,
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, err
	}
	for n, raw := range strings.Split(string(data), "\n") {
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") ||
			strings.HasPrefix(line, "[") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return cfg, fmt.Errorf("%s:%d: expected key = value", path, n+1)
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		switch key {
		case "program":
			cfg.program = value
		case "socket":
			cfg.socket = value
		case "setup":
			cfg.setup = value
		case "autostart":
			cfg.autostart = value == "true"
		case "startsecs", "stopsecs", "buildwait":
			secs, perr := strconv.ParseFloat(value, 64)
			if perr != nil || secs < 0 {
				return cfg, fmt.Errorf("%s:%d: %s must be a number of seconds", path, n+1, key)
			}
			d := time.Duration(secs * float64(time.Second))
			switch key {
			case "startsecs":
				cfg.startsecs = d
			case "stopsecs":
				cfg.stopsecs = d
			default:
				cfg.buildwait = d
			}
		default:
			return cfg, fmt.Errorf("%s:%d: unknown key %q", path, n+1, key)
		}
	}
	return cfg, nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[pyodo-supervisor] "+format+"\n", args...)
}

type exitEvent struct {
	pid  int
	code int
}

type request struct {
	op    string
	reply chan string
}

type state string

const (
	stStopped  state = "STOPPED"
	stStarting state = "STARTING"
	stRunning  state = "RUNNING"
	stStopping state = "STOPPING"
	stBackoff  state = "BACKOFF"
)

type manager struct {
	cfg          config
	st           state
	want         bool
	pid          int
	startedAt    time.Time
	lastExit     int
	hasExited    bool
	restarts     int
	backoff      time.Duration
	startWaiters []chan string
	stopWaiters  []chan string
	exits        chan exitEvent
	timer        *time.Timer
	timerFor     string // "running", "retry" or "kill"
	shutdown     bool
}

func newManager(cfg config) *manager {
	return &manager{cfg: cfg, st: stStopped, exits: make(chan exitEvent, 4), backoff: 500 * time.Millisecond}
}

func (m *manager) status() string {
	switch m.st {
	case stRunning:
		return fmt.Sprintf("RUNNING pid=%d restarts=%d", m.pid, m.restarts)
	case stStarting, stStopping:
		return fmt.Sprintf("%s pid=%d", m.st, m.pid)
	case stBackoff:
		return fmt.Sprintf("BACKOFF exit=%d", m.lastExit)
	default:
		if m.hasExited {
			return fmt.Sprintf("STOPPED exit=%d", m.lastExit)
		}
		return "STOPPED"
	}
}

func (m *manager) setTimer(d time.Duration, purpose string) {
	m.stopTimer()
	m.timer = time.NewTimer(d)
	m.timerFor = purpose
}

func (m *manager) stopTimer() {
	if m.timer != nil {
		m.timer.Stop()
	}
	m.timer = nil
	m.timerFor = ""
}

func (m *manager) timerC() <-chan time.Time {
	if m.timer == nil {
		return nil
	}
	return m.timer.C
}

func (m *manager) answer(waiters *[]chan string, msg string) {
	for _, w := range *waiters {
		w <- msg
	}
	*waiters = nil
}

func (m *manager) spawn() {
	cmd := exec.Command(m.cfg.program)
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf("cannot start %s: %v", m.cfg.program, err)
		m.lastExit, m.hasExited = 127, true
		m.st = stBackoff
		m.answer(&m.startWaiters, m.status())
		m.setTimer(m.nextBackoff(), "retry")
		return
	}
	m.pid = cmd.Process.Pid
	m.startedAt = time.Now()
	m.st = stStarting
	logf("started %s pid=%d", m.cfg.program, m.pid)
	exits := m.exits
	pid := m.pid
	go func() {
		code := 0
		if err := cmd.Wait(); err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					code = 128 + int(ws.Signal())
				} else {
					code = ee.ExitCode()
				}
			} else {
				code = 1
			}
		}
		killGroup(pid, 2*time.Second)
		exits <- exitEvent{pid: pid, code: code}
	}()
	m.setTimer(m.cfg.startsecs, "running")
}

// killGroup ends what is left of the app's process group: TERM, then KILL after grace.
func killGroup(pgid int, grace time.Duration) {
	if syscall.Kill(-pgid, syscall.SIGTERM) != nil {
		return
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if syscall.Kill(-pgid, 0) != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

func (m *manager) nextBackoff() time.Duration {
	d := m.backoff
	m.backoff *= 2
	if m.backoff > 8*time.Second {
		m.backoff = 8 * time.Second
	}
	return d
}

func (m *manager) alive() bool {
	return m.st == stStarting || m.st == stRunning || m.st == stStopping
}

func (m *manager) beginStop() {
	if m.st == stStopping {
		return
	}
	m.st = stStopping
	logf("stopping pid=%d", m.pid)
	_ = syscall.Kill(-m.pid, syscall.SIGTERM)
	_ = syscall.Kill(m.pid, syscall.SIGTERM)
	m.setTimer(m.cfg.stopsecs, "kill")
}

func (m *manager) handle(req request) {
	switch req.op {
	case "status":
		req.reply <- m.status()
	case "start":
		m.want = true
		switch m.st {
		case stRunning:
			req.reply <- m.status()
		case stStarting, stStopping:
			m.startWaiters = append(m.startWaiters, req.reply)
		default:
			m.startWaiters = append(m.startWaiters, req.reply)
			m.stopTimer()
			m.backoff = 500 * time.Millisecond
			m.spawn()
		}
	case "restart":
		m.want = true
		m.startWaiters = append(m.startWaiters, req.reply)
		m.backoff = 500 * time.Millisecond
		if m.alive() {
			m.beginStop()
		} else {
			m.stopTimer()
			m.spawn()
		}
	case "stop":
		m.want = false
		if m.alive() {
			m.stopWaiters = append(m.stopWaiters, req.reply)
			m.beginStop()
		} else {
			m.stopTimer()
			m.st = stStopped
			req.reply <- m.status()
		}
	default:
		req.reply <- "ERROR unknown command " + strconv.Quote(req.op)
	}
}

func (m *manager) onExit(ev exitEvent) {
	if ev.pid != m.pid {
		return
	}
	uptime := time.Since(m.startedAt)
	wasStarting := m.st == stStarting
	m.lastExit, m.hasExited = ev.code, true
	m.stopTimer()
	logf("pid=%d exited with %d after %.1fs", ev.pid, ev.code, uptime.Seconds())
	if !m.want || m.shutdown {
		m.st = stStopped
		m.answer(&m.stopWaiters, m.status())
		m.answer(&m.startWaiters, m.status())
		return
	}
	if m.st == stStopping { // a restart: start again at once
		m.answer(&m.stopWaiters, "STOPPED")
		m.spawn()
		return
	}
	if uptime >= 10*time.Second {
		m.backoff = 500 * time.Millisecond
	}
	m.st = stBackoff
	if wasStarting {
		m.answer(&m.startWaiters, m.status())
	}
	delay := m.nextBackoff()
	logf("restarting in %.1fs", delay.Seconds())
	m.restarts++
	m.setTimer(delay, "retry")
}

func (m *manager) onTimer() {
	purpose := m.timerFor
	m.timer, m.timerFor = nil, ""
	switch purpose {
	case "running":
		if m.st == stStarting {
			m.st = stRunning
			m.answer(&m.startWaiters, m.status())
		}
	case "retry":
		if m.want && m.st == stBackoff {
			m.spawn()
		}
	case "kill":
		if m.st == stStopping {
			logf("pid=%d did not stop within %s: SIGKILL", m.pid, m.cfg.stopsecs)
			_ = syscall.Kill(-m.pid, syscall.SIGKILL)
			_ = syscall.Kill(m.pid, syscall.SIGKILL)
		}
	}
}

func serve(ln net.Listener, reqs chan<- request) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go func(c net.Conn) {
			defer c.Close()
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				return
			}
			reply := make(chan string, 1)
			reqs <- request{op: strings.TrimSpace(line), reply: reply}
			fmt.Fprintln(c, <-reply)
		}(conn)
	}
}

func runDaemon(cfg config) int {
	if cfg.setup != "" {
		cmd := exec.Command(cfg.setup)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			logf("setup %s failed: %v (continuing)", cfg.setup, err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(cfg.socket), 0o755); err != nil {
		logf("cannot create socket dir: %v", err)
		return 1
	}
	_ = os.Remove(cfg.socket)
	ln, err := net.Listen("unix", cfg.socket)
	if err != nil {
		logf("cannot listen on %s: %v", cfg.socket, err)
		return 1
	}
	defer os.Remove(cfg.socket)
	reqs := make(chan request)
	go serve(ln, reqs)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)

	m := newManager(cfg)
	logf("ready on %s; app %s (autostart=%v)", cfg.socket, cfg.program, cfg.autostart)
	if cfg.autostart {
		m.want = true
		m.spawn()
	}
	for {
		select {
		case req := <-reqs:
			m.handle(req)
		case ev := <-m.exits:
			m.onExit(ev)
		case <-m.timerC():
			m.onTimer()
		case sig := <-sigs:
			logf("got %s: stopping", sig)
			m.shutdown, m.want = true, false
			if !m.alive() {
				return 0
			}
			m.beginStop()
		}
		if m.shutdown && !m.alive() {
			_ = ln.Close()
			return 0
		}
	}
}

func runCtl(cfg config, args []string, timeout time.Duration) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: supervisor ctl [-timeout 60s] start|stop|restart|status")
		return 2
	}
	op := args[0]
	deadline := time.Now().Add(timeout)
	// start/restart/stop wait for a supervisor that is still starting (a fresh container);
	// status answers at once.
	dialDeadline := deadline
	if op == "status" {
		dialDeadline = time.Now().Add(2 * time.Second)
	}
	var conn net.Conn
	var err error
	for {
		conn, err = net.DialTimeout("unix", cfg.socket, time.Second)
		if err == nil || time.Now().After(dialDeadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		fmt.Printf("UNKNOWN error=supervisor-not-reachable socket=%s\n", cfg.socket)
		return 4
	}
	defer conn.Close()
	_ = conn.SetDeadline(deadline)
	fmt.Fprintln(conn, op)
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		fmt.Printf("UNKNOWN error=no-answer op=%s\n", op)
		return 4
	}
	line = strings.TrimSpace(line)
	fmt.Println(line)
	word := strings.Fields(line + " x")[0]
	switch op {
	case "start", "restart":
		if word == "RUNNING" {
			return 0
		}
		return 1
	case "stop":
		if word == "STOPPED" {
			return 0
		}
		return 1
	case "status":
		if word == "RUNNING" {
			return 0
		}
		return 3
	}
	return 2
}

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "install" {
		os.Exit(runInstall(args[1:]))
	}
	if len(args) > 0 && args[0] == "init" {
		os.Exit(runInit(args[1:]))
	}
	mode := "daemon"
	if len(args) > 0 && (args[0] == "ctl" || args[0] == "agent") {
		mode, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("supervisor", flag.ExitOnError)
	confPath := fs.String("c", defaultConfPath(), "configuration file")
	timeout := fs.Duration("timeout", 60*time.Second, "ctl: how long to wait for the answer")
	_ = fs.Parse(args)
	cfg, err := loadConfig(*confPath)
	if err != nil {
		logf("configuration: %v", err)
		os.Exit(2)
	}
	switch mode {
	case "ctl":
		os.Exit(runCtl(cfg, fs.Args(), *timeout))
	case "agent":
		command := fs.Args()
		if len(command) == 0 {
			command = []string{filepath.Join(filepath.Dir(*confPath), "..", "bin", "assemble-and-restart")}
		}
		os.Exit(runAgent(cfg, command))
	}
	os.Exit(runDaemon(cfg))
}
