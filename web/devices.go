package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// devicesPage lists the wall screens (GET /settings/devices).
func (s *Server) devicesPage(w http.ResponseWriter, r *http.Request) error {
	return s.renderDevices(w, r, http.StatusOK, DevicesView{Revoked: clip(r.URL.Query().Get("revoked"))})
}

// renderDevices shows the devices page with what v already holds.
func (s *Server) renderDevices(w http.ResponseWriter, r *http.Request, status int, v DevicesView) error {
	list, err := s.sessions.ListSessions(r.Context(), SessionDevice)
	if err != nil {
		return fmt.Errorf("list devices: %w: %w", ErrSessionStore, err)
	}
	now := s.now()
	loc := s.displayZone()
	open := s.socketsBySession()
	l := LocaleFrom(r.Context())
	for _, d := range list {
		if !now.Before(d.Expires) {
			continue // the next sweep deletes it
		}
		v.Devices = append(v.Devices, DeviceView{
			ID: d.ID, Name: d.Name, CreatedBy: d.CreatedBy, Address: d.Address,
			Created: formatWhen(l, d.Created.In(loc), now.In(loc)), Seen: formatWhen(l, d.Seen.In(loc), now.In(loc)),
			Expires: l.Date(d.Expires.In(loc)), Sockets: open[d.ID],
		})
	}
	v.Meta = s.meta(r, l.T("devices.title"), "devices")
	if v.Link != nil {
		v.LinkExpires = v.Link.Expires.In(loc).Format("15:04")
	}
	s.render(w, r, status, DevicesPage(v))
	return nil
}

// devicesLink makes a one-time link for a named screen (POST
// /settings/devices, form field name) and shows it.
func (s *Server) devicesLink(w http.ResponseWriter, r *http.Request) error {
	name := r.PostFormValue("name")
	link, err := s.makeWallLink(r, name, r.PostFormValue("lang"))
	if errors.Is(err, ErrBadRequest) {
		return s.renderDevices(w, r, http.StatusBadRequest, DevicesView{Name: name, Error: Say(r.Context(), err)})
	}
	if err != nil {
		return err
	}
	return s.renderDevices(w, r, http.StatusCreated, DevicesView{Link: &link})
}

// revokeDevice signs a wall screen out (POST
// /settings/devices/{id}/revoke): its sign-in is deleted and its open
// sockets are closed at once with 1008 "device revoked", which the kiosk
// page shows as signed out.
func (s *Server) revokeDevice(w http.ResponseWriter, r *http.Request) error {
	u, _ := UserFrom(r.Context())
	id := r.PathValue("id")
	list, err := s.sessions.ListSessions(r.Context(), SessionDevice)
	if err != nil {
		return fmt.Errorf("list devices: %w: %w", ErrSessionStore, err)
	}
	var dev *StoredSession
	for i := range list {
		if list[i].ID == id {
			dev = &list[i]
		}
	}
	if dev == nil {
		return fmt.Errorf("%w: there is no such wall screen (any more); it may have been revoked already", ErrNotFound)
	}
	if _, err := s.sessions.RevokeSession(r.Context(), id); err != nil {
		return fmt.Errorf("revoke device: %w: %w", ErrSessionStore, err)
	}
	n := s.endStreams(func(st *openStream) bool { return st.p.sessionID == id }, endDevice)
	s.log.Info("wall screen revoked", "device", dev.Name, "session", id, "by", u.Name, "sockets_closed", n)
	http.Redirect(w, r, "/settings/devices?revoked="+url.QueryEscape(dev.Name), http.StatusSeeOther)
	return nil
}

// socketsBySession counts the open sockets per sign-in ID.
func (s *Server) socketsBySession() map[string]int {
	s.streamMu.Lock()
	defer s.streamMu.Unlock()
	out := map[string]int{}
	for st := range s.open {
		if st.p.sessionID != "" {
			out[st.p.sessionID]++
		}
	}
	return out
}

// errorWords is an error's text without the sentinel's prefix.
func errorWords(err error) string {
	msg := err.Error()
	for _, sentinel := range []error{ErrBadRequest, ErrNotFound} {
		if p := sentinel.Error() + ": "; len(msg) > len(p) && msg[:len(p)] == p {
			return msg[len(p):]
		}
	}
	return msg
}
