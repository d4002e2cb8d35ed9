// inject.go: the two modes that let pyodo run on a cluster it never loaded an image into.
//
// Why: the seeds' pod gets the supervisor from an init image (copy-supervisord). A cluster that
// pyodo did not build has no such image, so pyodo delivers this binary through the exec stream it
// opens anyway, into the pod's /opt/odo emptyDir, while the app container waits in a small sh
// loop for it (pyodo_tasks/runtime/contract.py, INJECT_WAIT_SCRIPT). Two modes make that work
// with nothing in the image but sh and cat:
//
//   - `supervisor install DEST HASH` runs from the uploaded file. The upload is this ELF image
//     followed by a tar of the scripts and configuration, the tar's length and a magic word
//     (the kernel ignores bytes after the ELF's segments). It extracts the tar into DEST, writes
//     its own ELF image to DEST/bin/supervisor last (the waiting loop starts on that file),
//     marks DEST/.runtime-HASH, and waits, bounded, until the started supervisor listens, so the
//     agent pyodo opens next finds it.
//   - `supervisor init -- CMD...` is tini's job as PID 1: it starts CMD, passes signals on,
//     reaps every orphan (child subreaper) and exits with CMD's status.
package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// trailerMagic ends an upload; the 8 bytes before it are the tar's length (little endian).
const trailerMagic = "PYODOBDL"

// installWait bounds how long install waits for the started supervisor's socket.
const installWait = 30 * time.Second

func runInstall(args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: supervisor install DEST HASH")
		return 2
	}
	dest, hash := args[0], args[1]
	if err := install(dest, hash); err != nil {
		fmt.Fprintf(os.Stderr, "pyodo install: %v\n", err)
		return 1
	}
	socket := filepath.Join(dest, "run", "supervisor.sock")
	deadline := time.Now().Add(installWait)
	for {
		conn, err := net.DialTimeout("unix", socket, time.Second)
		if err == nil {
			conn.Close()
			fmt.Println("installed")
			return 0
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "pyodo install: the supervisor did not listen on %s within %s "+
				"(is the app container running pyodo's wait loop?)\n", socket, installWait)
			return 3
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// install unpacks the upload this process runs from into dest.
func install(dest, hash string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	f, err := os.Open(self)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	size := info.Size()
	trailer := make([]byte, 16)
	if size < 16 {
		return fmt.Errorf("%s is not a pyodo upload (too short)", self)
	}
	if _, err := f.ReadAt(trailer, size-16); err != nil {
		return err
	}
	if !bytes.Equal(trailer[8:], []byte(trailerMagic)) {
		return fmt.Errorf("%s is not a pyodo upload (no trailer)", self)
	}
	tarLen := int64(binary.LittleEndian.Uint64(trailer[:8]))
	elfLen := size - 16 - tarLen
	if tarLen < 0 || elfLen <= 0 {
		return fmt.Errorf("%s: bad trailer (tar length %d)", self, tarLen)
	}
	if _, err := extract(io.NewSectionReader(f, elfLen, tarLen), dest); err != nil {
		return fmt.Errorf("unpacking into %s: %v", dest, err)
	}
	bin := filepath.Join(dest, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(bin, ".supervisor.tmp")
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, io.NewSectionReader(f, 0, elfLen))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o755)
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(bin, "supervisor"))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("writing %s/supervisor: %v", bin, err)
	}
	marker := filepath.Join(dest, ".runtime-"+filepath.Base(hash))
	return os.WriteFile(marker, []byte(hash+"\n"), 0o644)
}

// prSetChildSubreaper is prctl's PR_SET_CHILD_SUBREAPER.
const prSetChildSubreaper = 36

func runInit(args []string) int {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: supervisor init -- COMMAND [ARGS...]")
		return 2
	}
	// Orphans of the app re-parent to us even when we are not PID 1 (tini -s).
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0)
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGCHLD, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP,
		syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	attr := &os.ProcAttr{Files: []*os.File{os.Stdin, os.Stdout, os.Stderr}}
	child, err := os.StartProcess(args[0], args, attr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pyodo init: cannot start %s: %v\n", args[0], err)
		return 127
	}
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			_ = child.Signal(sig)
			continue
		}
		for {
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
			if pid == child.Pid {
				if status.Signaled() {
					return 128 + int(status.Signal())
				}
				return status.ExitStatus()
			}
		}
	}
	return 0
}
