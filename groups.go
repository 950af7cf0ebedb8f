package zyre

// groupOutboxes maps each group with ready members to their outboxes. The
// actor publishes a new one (Node.groups) whenever membership or a
// member's outbox changes, so Shout can wait for room in the callers'
// goroutine and queue the message without a round trip to the actor. A
// published value is never modified.
type groupOutboxes map[string][]*outbox

// fullWait returns a channel closed when a full outbox of a member of
// group has room again, or nil when every member's outbox has room. A nil
// receiver (nothing published yet) has no members.
func (g *groupOutboxes) fullWait(group string, limit int) <-chan struct{} {
	if g == nil {
		return nil
	}
	for _, o := range (*g)[group] {
		if w := o.fullWait(limit); w != nil {
			return w
		}
	}
	return nil
}

// groupsChanged notes that the members of group, or their outboxes,
// changed; "" means any group may have.
func (a *actor) groupsChanged(group string) {
	if a.allGroupsDirty {
		return
	}
	if group == "" {
		a.allGroupsDirty = true
		clear(a.dirtyGroups)
		return
	}
	if a.dirtyGroups == nil {
		a.dirtyGroups = make(map[string]struct{})
	}
	a.dirtyGroups[group] = struct{}{}
}

// publishGroups publishes the members' outboxes of the groups that
// changed since the last call.
func (a *actor) publishGroups() {
	if !a.allGroupsDirty && len(a.dirtyGroups) == 0 {
		return
	}
	old := a.n.groups.Load()
	next := make(groupOutboxes)
	if a.allGroupsDirty {
		for _, g := range a.eng.PeerGroups() {
			a.setGroup(next, g)
		}
	} else {
		if old != nil {
			for g, obs := range *old {
				next[g] = obs
			}
		}
		for g := range a.dirtyGroups {
			a.setGroup(next, g)
		}
	}
	a.allGroupsDirty = false
	clear(a.dirtyGroups)
	a.n.groups.Store(&next)
}

func (a *actor) setGroup(m groupOutboxes, group string) {
	var obs []*outbox
	for _, id := range a.eng.PeersByGroup(group) {
		if l := a.links[id]; l != nil {
			obs = append(obs, l.out)
		}
	}
	if len(obs) == 0 {
		delete(m, group)
		return
	}
	m[group] = obs
}

// shout steps a SendShout from the Node's command (frames, or the single
// frame) without allocating.
func (a *actor) shout(group string, frame []byte, frames [][]byte) {
	in := a.shoutIns.Next()
	in.Group, in.Content = group, a.content(frame, frames)
	a.step(in)
}
