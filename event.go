package zyre

// EventType names the kind of an Event; String gives C Zyre's names.
type EventType uint8

// The event types. Their String forms are the names C Zyre uses.
const (
	EventEnter EventType = iota + 1
	EventExit
	EventJoin
	EventLeave
	EventWhisper
	EventShout
	EventEvasive
	EventSilent
	EventLeader
	EventStop
	EventDropped
)

var eventNames = [...]string{"", "ENTER", "EXIT", "JOIN", "LEAVE", "WHISPER", "SHOUT", "EVASIVE", "SILENT", "LEADER", "STOP", "DROPPED"}

func (t EventType) String() string {
	if int(t) < len(eventNames) && t != 0 {
		return eventNames[t]
	}
	return "UNKNOWN"
}

// Event is one thing that happened, delivered in order by Node.Recv and
// Node.Events. The set of implementations is closed: use a type switch on
// the concrete types below.
type Event interface {
	// Type returns the event's kind.
	Type() EventType
	isEvent()
}

// EnterEvent reports a new peer, after its HELLO arrived. Its JoinEvents,
// one per group it is in, follow immediately.
type EnterEvent struct {
	Peer     PeerID
	Name     string
	Endpoint string
	Headers  map[string]string
}

// ExitEvent reports that a peer left (GOODBYE, port-0 beacon), expired, or
// was dropped (sequence gap, unresponsive, connection lost). It is the peer's last event.
type ExitEvent struct {
	Peer   PeerID
	Name   string
	Reason string // why the peer is gone, e.g. "goodbye", "expired", "connection lost: ..."
}

// JoinEvent reports that a peer joined a group.
type JoinEvent struct {
	Peer  PeerID
	Name  string
	Group string
}

// LeaveEvent reports that a peer left a group.
type LeaveEvent struct {
	Peer  PeerID
	Name  string
	Group string
}

// WhisperEvent carries a message sent to this node only. Frames belong to
// the receiver; the library never reuses them unless handed back with
// Node.Release.
type WhisperEvent struct {
	Peer   PeerID
	Name   string
	Frames [][]byte
}

// ShoutEvent carries a message sent to a group. Frames belong to the
// receiver; the library never reuses them unless handed back with
// Node.Release.
type ShoutEvent struct {
	Peer   PeerID
	Name   string
	Group  string
	Frames [][]byte
}

// EvasiveEvent reports that a peer has been quiet for EvasiveTimeout; the
// node has sent it a PING. Emitted once per quiet spell.
type EvasiveEvent struct {
	Peer PeerID
	Name string
}

// SilentEvent reports that a peer is still quiet after SilentTimeout.
// Emitted once per quiet spell.
type SilentEvent struct {
	Peer PeerID
	Name string
}

// LeaderEvent reports the elected leader of a group.
type LeaderEvent struct {
	Peer  PeerID
	Name  string
	Group string
}

// StopEvent is the last event of a node, after Shutdown or Close.
type StopEvent struct{}

// DroppedEvent reports that data events were discarded because the
// application read too slowly (only under Config.DropWhenFull) or that
// messages to a peer were discarded because its outbox was full.
type DroppedEvent struct {
	Peer   PeerID // zero when the events of several peers were dropped
	Count  uint64
	Reason string
}

func (EnterEvent) Type() EventType   { return EventEnter }
func (ExitEvent) Type() EventType    { return EventExit }
func (JoinEvent) Type() EventType    { return EventJoin }
func (LeaveEvent) Type() EventType   { return EventLeave }
func (WhisperEvent) Type() EventType { return EventWhisper }
func (ShoutEvent) Type() EventType   { return EventShout }
func (EvasiveEvent) Type() EventType { return EventEvasive }
func (SilentEvent) Type() EventType  { return EventSilent }
func (LeaderEvent) Type() EventType  { return EventLeader }
func (StopEvent) Type() EventType    { return EventStop }
func (DroppedEvent) Type() EventType { return EventDropped }

func (EnterEvent) isEvent()   {}
func (ExitEvent) isEvent()    {}
func (JoinEvent) isEvent()    {}
func (LeaveEvent) isEvent()   {}
func (WhisperEvent) isEvent() {}
func (ShoutEvent) isEvent()   {}
func (EvasiveEvent) isEvent() {}
func (SilentEvent) isEvent()  {}
func (LeaderEvent) isEvent()  {}
func (StopEvent) isEvent()    {}
func (DroppedEvent) isEvent() {}
