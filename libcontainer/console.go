package libcontainer

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/ocirun/ocirun/libcontainer/configs"
)

// setupConsole makes a pty inside the container (from its own devpts), sends
// the master to the console socket, and makes the slave the process's
// controlling terminal, stdio and /dev/console.
func setupConsole(sockFd int, p *configs.Process, devConsole bool) error {
	if sockFd < 0 {
		return fmt.Errorf("process.terminal is true but no console socket was given")
	}
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/ptmx: %w", err)
	}
	defer master.Close()
	// /dev/ptmx is a link into the container's devpts: check that it led to a pty multiplexer.
	if err := checkCharDevice(master, 5, 2); err != nil {
		return fmt.Errorf("/dev/ptmx: %w", err)
	}
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		return fmt.Errorf("unlock pty: %w", err)
	}
	// TIOCGPTPEER opens the slave from the master: no path to race on.
	slaveFd, err := openPeer(master)
	if err != nil {
		return fmt.Errorf("open pty slave: %w", err)
	}
	slave := os.NewFile(uintptr(slaveFd), "pty-slave")
	defer slave.Close()
	if p.ConsoleHeight > 0 || p.ConsoleWidth > 0 {
		ws := &unix.Winsize{Row: p.ConsoleHeight, Col: p.ConsoleWidth}
		if err := unix.IoctlSetWinsize(slaveFd, unix.TIOCSWINSZ, ws); err != nil {
			return fmt.Errorf("set console size: %w", err)
		}
	}
	if devConsole {
		if err := bindConsole(slave); err != nil {
			return err
		}
	}
	if err := sendConsoleMaster(sockFd, master); err != nil {
		return err
	}
	unix.Close(sockFd)
	if err := unix.IoctlSetInt(slaveFd, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("set controlling terminal: %w", err)
	}
	for i := 0; i < 3; i++ {
		if err := unix.Dup3(slaveFd, i, 0); err != nil {
			return fmt.Errorf("dup pty slave to fd %d: %w", i, err)
		}
	}
	return nil
}

// bindConsole binds the pty slave onto /dev/console when /dev is ours to change.
func bindConsole(slave *os.File) error {
	fd, err := unix.Open("/dev/console", unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err == unix.ENOENT {
		fd, err = unix.Open("/dev/console", unix.O_CREAT|unix.O_EXCL|unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	}
	if err != nil {
		if err == unix.EROFS {
			return nil
		}
		return fmt.Errorf("create /dev/console: %w", err)
	}
	f := os.NewFile(uintptr(fd), "/dev/console")
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat /dev/console: %w", err)
	}
	if t := st.Mode & unix.S_IFMT; t != unix.S_IFREG && t != unix.S_IFCHR {
		return fmt.Errorf("/dev/console is not a file or character device")
	}
	// It must live in the container's /dev itself, not be something mounted there from elsewhere.
	var dev unix.Stat_t
	if err := unix.Stat("/dev", &dev); err != nil || dev.Dev != st.Dev {
		return fmt.Errorf("/dev/console is not on the container's /dev")
	}
	if err := bindFd(slave, f, false); err != nil {
		return fmt.Errorf("bind pty onto /dev/console: %w", err)
	}
	return nil
}

// openPeer opens the pty's slave read-write through TIOCGPTPEER, whose
// argument is the open flags.
func openPeer(master *os.File) (int, error) {
	fd, _, errno := unix.Syscall(unix.SYS_IOCTL, master.Fd(), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

// sendConsoleMaster passes a pty master over a --console-socket connection,
// named as runc names it.
func sendConsoleMaster(sockFd int, master *os.File) error {
	rights := unix.UnixRights(int(master.Fd()))
	if err := unix.Sendmsg(sockFd, []byte("/dev/ptmx"), rights, nil, 0); err != nil {
		return fmt.Errorf("send pty master to console socket: %w", err)
	}
	return nil
}
