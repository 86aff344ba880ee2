// Package devstack runs trstream's whole flow on one machine with no Docker:
// an embedded Kafka-protocol broker (franz-go's kfake) on loopback, the
// topics of redpanda/topics.yaml, and each pipeline as its own trstream
// process, exactly as compose runs them.
//
// Pipelines run as child processes rather than in Benthos streams mode
// because each pipeline file carries its own http and metrics sections
// (streams mode rejects those), and because a crash of one must not take
// the broker down with it.
package devstack

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trstream/trstream/internal/every"
	"github.com/trstream/trstream/internal/topics"
)

// Config says what to run.
type Config struct {
	// BrokerPort is the embedded broker's port on 127.0.0.1 (9092).
	BrokerPort int
	// DataDir, when set, persists the broker's log there; empty keeps it in memory.
	DataDir string
	// TopicsFile is redpanda/topics.yaml.
	TopicsFile string
	// Pipelines are the pipeline files, each run as `trstream -c FILE`.
	Pipelines []string
	// FirstHTTPPort is the HTTP (metrics, /ready) port of the first pipeline;
	// the next ones count up from it.
	FirstHTTPPort int
	// Extra are more trstream invocations to supervise, such as serve.
	Extra []Process
	// Binary is the trstream executable to start children with.
	Binary string
	// Env is added to every child's environment.
	Env []string
	// Out receives the children's output, each line prefixed with its name.
	Out io.Writer
	// RetentionCheck is how often the broker drops what retention.ms and
	// retention.bytes expired (kfake does it only when asked); 0 is Kafka's
	// log.retention.check.interval.ms, five minutes.
	RetentionCheck time.Duration
}

// Process is one supervised child.
type Process struct {
	Name string
	Args []string
	Env  []string
}

// Stack is a running broker and its children.
type Stack struct {
	Cluster *kfake.Cluster
	Brokers string
	Procs   []Process

	cmds []*exec.Cmd
	done chan error
	wg   sync.WaitGroup
	stop chan struct{}
	lock *os.File // held on the data directory; nil in memory
}

// LockFile is the file in a data directory that one stack at a time holds.
const LockFile = ".lock"

// HasLog reports whether dir holds a broker log from an earlier run (not
// only the lock of a run that stopped before its broker wrote anything).
func HasLog(dir string) bool {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != LockFile {
			return true
		}
	}
	return false
}

// lockDir takes dir for this process: two brokers on one log would each
// number records on their own and write over each other's segments.
func lockDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, LockFile), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("broker log %s is in use by another trstream dev: stop it, or pass another --data-dir (%w)", dir, err)
	}
	return f, nil
}

// Start starts the broker, applies the topics and starts every child.
func Start(ctx context.Context, cfg Config) (*Stack, error) {
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(cfg.BrokerPort)}
	var lock *os.File
	if cfg.DataDir != "" {
		var err error
		if lock, err = lockDir(cfg.DataDir); err != nil {
			return nil, err
		}
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("starting the embedded broker on 127.0.0.1:%d: %w", cfg.BrokerPort, err)
	}
	s := &Stack{Cluster: cluster, Brokers: strings.Join(cluster.ListenAddrs(), ","), done: make(chan error, 1), stop: make(chan struct{}), lock: lock}
	if err := s.applyTopics(ctx, cfg.TopicsFile); err != nil {
		cluster.Close()
		lock.Close()
		return nil, err
	}
	go s.retain(cmp.Or(cfg.RetentionCheck, 5*time.Minute))
	for i, p := range cfg.Pipelines {
		name := strings.TrimSuffix(filepath.Base(p), filepath.Ext(p))
		s.Procs = append(s.Procs, Process{
			Name: name,
			Args: []string{"-c", p},
			Env:  []string{fmt.Sprintf("TRSTREAM_HTTP_ADDRESS=127.0.0.1:%d", cfg.FirstHTTPPort+i)},
		})
	}
	s.Procs = append(s.Procs, cfg.Extra...)
	for _, p := range s.Procs {
		if err := s.spawn(cfg, p); err != nil {
			s.Stop()
			return nil, err
		}
	}
	return s, nil
}

func (s *Stack) applyTopics(ctx context.Context, file string) error {
	defs, err := topics.Load(file)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.Cluster.ListenAddrs()...))
	if err != nil {
		return err
	}
	defer cl.Close()
	_, err = topics.Apply(ctx, kadm.NewClient(cl), defs, 1)
	return err
}

func (s *Stack) spawn(cfg Config, p Process) error {
	cmd := exec.Command(cfg.Binary, p.Args...)
	cmd.Env = append(append(append(os.Environ(), "TRSTREAM_BROKERS="+s.Brokers), cfg.Env...), p.Env...)
	cmd.SysProcAttr = childAttr()
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", p.Name, err)
	}
	s.cmds = append(s.cmds, cmd)
	go prefixLines(cfg.Out, p.Name, pr)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := cmd.Wait()
		pw.Close()
		if err != nil {
			select {
			case s.done <- fmt.Errorf("%s exited: %w", p.Name, err):
			default:
			}
		}
	}()
	return nil
}

func prefixLines(w io.Writer, name string, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fmt.Fprintf(w, "%-8s | %s\n", name, sc.Text())
	}
	_, _ = io.Copy(io.Discard, r)
}

// retain applies the topics' retention every interval, as a Kafka broker
// does: without it the log of a long dev run would only grow.
func (s *Stack) retain(interval time.Duration) {
	every.Run(interval, s.stop, s.Cluster.ApplyRetention)
}

// Failed delivers the first child that exits with an error.
func (s *Stack) Failed() <-chan error { return s.done }

// Stop asks every child to stop (SIGTERM, then SIGKILL after 20 s), waits
// for them, and closes the broker.
func (s *Stack) Stop() {
	for _, c := range s.cmds {
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGTERM)
	}
	waited := make(chan struct{})
	go func() { s.wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(20 * time.Second):
		for _, c := range s.cmds {
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		}
		<-waited
	}
	close(s.stop)
	s.Cluster.Close()
	s.lock.Close() // nil-safe: the broker is closed, the log free
}

// ErrNoPipelines is returned when no pipeline file was found.
var ErrNoPipelines = errors.New("no pipeline files given or found in pipelines/")
