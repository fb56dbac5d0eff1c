package esl

import "github.com/switchboard/switchboard/monitor"

// reasonFor maps a FreeSWITCH hangup cause (the Q.850 names of
// switch_channel_cause2str) onto the shared end reasons. answered says
// whether anybody took the call; originator whether the leg that ended it
// is the caller's own.
func reasonFor(cause string, answered bool) monitor.Reason {
	switch cause {
	case "LOSE_RACE", "PICKED_OFF":
		return monitor.ReasonAnsweredElsewhere
	}
	if answered {
		switch cause {
		case "", "NORMAL_CLEARING", "NORMAL_UNSPECIFIED", "ORIGINATOR_CANCEL", "ATTENDED_TRANSFER", "BLIND_TRANSFER",
			"MANAGER_REQUEST", "SUCCESS", "ALLOTTED_TIMEOUT", "MEDIA_TIMEOUT", "NONE":
			return monitor.ReasonCompleted
		}
		return monitor.ReasonFailed
	}
	switch cause {
	case "NO_ANSWER", "NO_USER_RESPONSE", "ALLOTTED_TIMEOUT", "RECOVERY_ON_TIMER_EXPIRE", "PROGRESS_TIMEOUT":
		return monitor.ReasonNoAnswer
	case "USER_BUSY":
		return monitor.ReasonBusy
	case "CALL_REJECTED":
		return monitor.ReasonRejected
	case "ORIGINATOR_CANCEL", "NORMAL_CLEARING", "NORMAL_UNSPECIFIED":
		// The caller hung up before anybody answered.
		return monitor.ReasonCancelled
	}
	return monitor.ReasonFailed
}
