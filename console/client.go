package console

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"
)

// Websocket timing. A peer that does not answer a ping within pongWait, or does not take a
// message within writeWait, is dropped.
const (
	writeWait      = 10 * time.Second
	pongWait       = 60 * time.Second
	pingPeriod     = pongWait * 9 / 10
	maxClientFrame = 1024 // clients only send small control messages
)

// client is one websocket connection. The hub owns membership and closes gone when it drops
// the client; the send loop is the only writer.
type client struct {
	conn *websocket.Conn
	send chan *websocket.PreparedMessage
	gone chan struct{} // closed by the hub
	log  zerolog.Logger
}

// serveWS upgrades an authorized request and runs the client until either side ends.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request, id identity) {
	if !s.hub.reserve(s.cfg.MaxClients) {
		s.dropCounts.add("console_client_limit")
		writeError(w, http.StatusServiceUnavailable, "too many console clients")
		return
	}
	defer s.hub.release() // after a failed upgrade, or once the client is unregistered
	up := websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   1024,
		WriteBufferSize:  16 * 1024,
		CheckOrigin:      s.originAllowed,
	}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	c := &client{
		conn: conn,
		send: make(chan *websocket.PreparedMessage, s.cfg.ClientQueue),
		gone: make(chan struct{}),
		log:  s.log.With().Str("remote", r.RemoteAddr).Str("actor", id.actor()).Logger(),
	}
	select {
	case s.hub.register <- c:
	case <-s.hub.done:
		_ = conn.Close()
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer cancel()
		s.readLoop(c)
	}()
	s.writeLoop(ctx, c)
	select {
	case s.hub.unregister <- c:
	case <-s.hub.done:
	}
	_ = conn.Close()
	<-readDone
}

// readLoop handles pongs and watch requests; any error ends the client.
func (s *Server) readLoop(c *client) {
	c.conn.SetReadLimit(maxClientFrame)
	_ = c.conn.SetReadDeadline(time.Now().Add(pongWait))
	c.conn.SetPongHandler(func(string) error { return c.conn.SetReadDeadline(time.Now().Add(pongWait)) })
	for {
		_, b, err := c.conn.ReadMessage()
		if err != nil {
			return
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(pongWait))
		var m clientMsg
		if json.Unmarshal(b, &m) != nil || m.Type != "watch" {
			continue // unknown messages are ignored, as a newer page might send them
		}
		select {
		case s.hub.watch <- watchReq{c: c, on: m.Workers, q: m.Page}:
		case <-c.gone:
			return
		case <-s.hub.done:
			return
		}
	}
}

// writeLoop sends queued messages and pings until the hub drops the client, the reader ends
// or a write fails (including by deadline).
func (s *Server) writeLoop(ctx context.Context, c *client) {
	ping := time.NewTicker(pingPeriod)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.gone:
			return
		case m := <-c.send:
			_ = c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := c.conn.WritePreparedMessage(m); err != nil {
				return
			}
		case <-ping.C:
			if err := c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
				return
			}
		}
	}
}
