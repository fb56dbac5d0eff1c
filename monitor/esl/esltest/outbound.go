package esltest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DialOutbound connects to an outbound-mode listener at addr the way the
// dialplan's `socket` application does: it waits for "connect", replies
// with the channel data, answers every further command with +OK, and once
// the peer asked for its events (myevents) and ready says the commands so
// far are all it waits for (nil: none more), sends events in JSON. With
// linger asked for, the hangup is announced by a text/disconnect-notice
// with Content-Disposition: linger before the last events, as FreeSWITCH
// does. It then closes the socket and returns the commands it received.
func DialOutbound(ctx context.Context, addr string, data Event, events []Event, ready func(cmds []string) bool) ([]string, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	br := bufio.NewReader(nc)
	var (
		mu   sync.Mutex // guards cmds
		cmds []string
		wmu  sync.Mutex // one message at a time on the wire
	)
	write := func(msg string) error {
		wmu.Lock()
		defer wmu.Unlock()
		_, err := io.WriteString(nc, msg)
		return err
	}
	var linger atomic.Bool
	subscribed := false
	read := func() error {
		cmd, err := readCommand(br)
		if err != nil {
			return fmt.Errorf("esltest outbound: %w", err)
		}
		mu.Lock()
		cmds = append(cmds, cmd)
		mu.Unlock()
		verb, args, _ := strings.Cut(cmd, " ")
		switch verb {
		case "connect":
			keys := make([]string, 0, len(data))
			for k := range data {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var b strings.Builder
			b.WriteString("Content-Type: command/reply\nReply-Text: +OK\nSocket-Mode: async\nControl: full\n")
			for _, k := range keys {
				fmt.Fprintf(&b, "%s: %s\n", k, url.PathEscape(data[k]))
			}
			b.WriteString("\n")
			err = write(b.String())
		case "myevents":
			subscribed = strings.HasPrefix(args, "json") || args == ""
			err = write("Content-Type: command/reply\nReply-Text: +OK Events Enabled\n\n")
		case "linger":
			linger.Store(true)
			err = write("Content-Type: command/reply\nReply-Text: +OK will linger\n\n")
		default:
			err = write("Content-Type: command/reply\nReply-Text: +OK\n\n")
		}
		return err
	}
	for !subscribed || (ready != nil && !ready(cmds)) {
		if err := read(); err != nil {
			return cmds, err
		}
	}
	// Answer whatever else the peer sends while the call goes on.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for read() == nil {
		}
	}()
	result := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), cmds...)
	}
	for _, e := range events {
		if linger.Load() && e["Event-Name"] == "CHANNEL_HANGUP_COMPLETE" {
			notice := "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
			_ = write(fmt.Sprintf("Content-Type: text/disconnect-notice\nController-Type: outbound\nContent-Disposition: linger\nChannel-UUID: %s\nContent-Length: %d\n\n%s",
				data["Unique-ID"], len(notice), notice))
		}
		b, _ := json.Marshal(e)
		if err := write(fmt.Sprintf("Content-Length: %d\nContent-Type: text/event-json\n\n%s", len(b), b)); err != nil {
			return result(), err
		}
	}
	// Give the peer the moment a lingering socket gets to read the last
	// events before FreeSWITCH closes it.
	nc.(*net.TCPConn).CloseWrite()
	nc.SetReadDeadline(time.Now().Add(2 * time.Second))
	<-done
	return result(), nil
}
