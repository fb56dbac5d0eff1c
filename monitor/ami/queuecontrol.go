package ami

import (
	"context"
	"fmt"
	"strconv"

	"github.com/switchboard/switchboard/monitor"
)

var _ monitor.QueueController = (*Source)(nil)

// PauseMember pauses or unpauses member in queue (AMI QueuePause, app_queue:
// Interface, Queue, Paused, Reason). Asterisk answers with
// QueueMemberPause events, which update the queue as any other pause.
func (s *Source) PauseMember(ctx context.Context, queue, member string, paused bool, reason string) error {
	conn, _, err := s.live()
	if err != nil {
		return err
	}
	act := M("Action", "QueuePause", "Interface", member, "Queue", queue, "Paused", strconv.FormatBool(paused))
	if paused && reason != "" {
		act = append(act, Field{Key: "Reason", Value: reason})
	}
	if _, err := conn.Action(ctx, act); err != nil {
		return fmt.Errorf("ami queuepause %s %s: %w", queue, member, err)
	}
	return nil
}

// AddMember logs member into queue as a dynamic member (AMI QueueAdd);
// Asterisk answers with QueueMemberAdded.
func (s *Source) AddMember(ctx context.Context, queue, member, name string) error {
	conn, _, err := s.live()
	if err != nil {
		return err
	}
	act := M("Action", "QueueAdd", "Queue", queue, "Interface", member)
	if name != "" {
		act = append(act, Field{Key: "MemberName", Value: name})
	}
	if _, err := conn.Action(ctx, act); err != nil {
		return fmt.Errorf("ami queueadd %s %s: %w", queue, member, err)
	}
	return nil
}

// RemoveMember logs member out of queue (AMI QueueRemove); Asterisk
// refuses it for a static member (queues.conf), and answers a removal
// with QueueMemberRemoved.
func (s *Source) RemoveMember(ctx context.Context, queue, member string) error {
	conn, _, err := s.live()
	if err != nil {
		return err
	}
	if _, err := conn.Action(ctx, M("Action", "QueueRemove", "Queue", queue, "Interface", member)); err != nil {
		return fmt.Errorf("ami queueremove %s %s: %w", queue, member, err)
	}
	return nil
}
