package esl

import (
	"context"
	"fmt"
	"strings"

	"github.com/switchboard/switchboard/monitor"
)

var _ monitor.QueueController = (*Source)(nil)

// mod_callcenter's agent statuses (mod_callcenter.c, cc_agent_status).
const (
	agentAvailable = "Available"
	agentOnBreak   = "On Break"
	agentLoggedOut = "Logged Out"
)

// setAgentStatus runs `callcenter_config agent set status AGENT 'STATUS'`.
// mod_callcenter keeps one status per agent, for all its queues (tiers),
// so queue only names the request in errors.
func (s *Source) setAgentStatus(ctx context.Context, op, queue, agent, status string) error {
	if !validNumber(agent) {
		return fmt.Errorf("esl %s: %w: %q is not an agent name", op, monitor.ErrRefused, agent)
	}
	conn, _, err := s.live()
	if err != nil {
		return err
	}
	out, err := conn.API(ctx, "callcenter_config", fmt.Sprintf("agent set status %s '%s'", agent, status))
	if err != nil {
		return fmt.Errorf("esl %s %s %s: %w", op, queue, agent, err)
	}
	// An api command's answer is its body: "+OK", or "-ERR Invalid Agent!"
	// (and "-ERR" for a FreeSWITCH without mod_callcenter).
	if r := strings.TrimSpace(out); strings.HasPrefix(r, "-ERR") {
		return fmt.Errorf("esl %s %s %s: %w: %s", op, queue, agent, monitor.ErrRefused, strings.TrimSpace(strings.TrimPrefix(r, "-ERR")))
	}
	return nil
}

// PauseMember sets the agent On Break (paused) or Available. FreeSWITCH
// keeps no pause reason: it is logged by whoever asked, not stored.
func (s *Source) PauseMember(ctx context.Context, queue, member string, paused bool, _ string) error {
	status := agentAvailable
	if paused {
		status = agentOnBreak
	}
	return s.setAgentStatus(ctx, "pause", queue, member, status)
}

// AddMember logs the agent in (status Available); it takes the calls of
// every queue it has a tier in.
func (s *Source) AddMember(ctx context.Context, queue, member, _ string) error {
	return s.setAgentStatus(ctx, "login", queue, member, agentAvailable)
}

// RemoveMember logs the agent out (status Logged Out), from every queue.
func (s *Source) RemoveMember(ctx context.Context, queue, member string) error {
	return s.setAgentStatus(ctx, "logout", queue, member, agentLoggedOut)
}
