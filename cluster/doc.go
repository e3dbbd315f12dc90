// Package cluster shares one site's power budget between several hashgate instances over
// NATS. A site outgrows one instance (halls, network segments, 100,000+ miners) long before
// it outgrows its grid connection, and instances that each ran the policy against the same
// meter would each restore the same spare power.
//
// Design:
//
//   - Every instance runs a Node. The Node is its power.Controller's feed (power.Sink): the
//     instance's controllable miners, their measured power and the meter readings it takes go
//     to NATS on hashgate.<site>.inv|power|meter.<instance> (inventory as deltas plus a full
//     snapshot every lease_ttl, numbered so a lost delta is noticed and repaired).
//   - Exactly one instance leads: it holds a lease in the JetStream KV bucket
//     hashgate_lease_<site>, whose entries live lease_ttl at the server. It is taken with
//     Create and renewed with Update against the last revision every lease_ttl/3; its value
//     names the instance and a per-process id, so a clone under the same name is never taken
//     for the holder, and from the first renewal on the term's revision, so the key shows the
//     exact epoch its holder commands under. The bucket is created with lease_ttl only when
//     missing: an instance whose lease_ttl differs from the bucket's is refused the lease
//     (an error naming cluster.lease_ttl), proves no leader and isolates; every instance of a
//     site needs the same lease_ttl. The epoch, the fencing token, is the bucket's creation
//     time (seconds, high 32 bits) with the revision at acquisition (low 32 bits), so it
//     grows even when the bucket is recreated and revisions start again at 1 (see Lease).
//   - The leader runs the site's policy.Runner over the union of every instance's inventory
//     and the readings of every instance. Its Actuator sends a step's decisions first as a
//     Plan so gates close at once, then gathers them per owning instance into one Batch
//     (hashgate.<site>.batch.<owner>, request/reply, at most 1,000 orders and within the
//     server's max_payload, the leader's own miners included); a lone decision goes as an
//     Order (hashgate.<site>.cmd.<owner>). Both carry the epoch. An unanswered or failed
//     order is a failed apply, which the Runner decides again.
//   - The owner carries an order out through its power.Controller's Plan and Apply and
//     answers, one result per order of a batch. The leader tells it how long it has, its
//     own remaining wait less a margin for the answer's way back; counted from when the
//     batch reaches the owner, that ends before the leader stops waiting, so a batch is
//     answered by then with the results that returned and the orders whose firmware had not
//     answered as failed: one firmware that never answers fails its own order only. It refuses orders below the highest epoch it
//     has seen (a batch whole), and queues at most 4,000 orders: a batch beyond that is
//     refused whole (queue full) rather than answered busy order by order. A gate a Plan (or an
//     order) closed whose command was not carried out (its leader died in between, the order
//     failed or was cancelled) is put back to the command last carried out once a newer epoch
//     is admitted, the instance isolates, or stale_after passed without its order: a gate
//     must not stay closed on a miner every leader takes as running, and reopening it costs no
//     power (the miner kept drawing). The isolation Runner's gates are rolled back the same
//     way, at the latest when a leader is heard again. The command carried out is then also
//     stored as the miner's state, so a restart does not restore the abandoned decision.
//   - The site console (Desk): every instance publishes a Card about itself (role, epoch,
//     health, workers, console URL) on hashgate.<site>.card.<instance>, so any console lists
//     the whole site; an operator's pause or resume goes to the instance owning each worker as
//     a request on hashgate.<site>.op.<owner>, and the owner applies and audits it.
//   - Site-wide operator controls (the cap, paused groups, demand-response events) are one
//     revision-checked document in the KV bucket hashgate_controls_<site>: any instance's
//     console writes it, the leader applies it to the site's Runner, and a new term reads
//     it before its first step, so the controls outlive a leader and a restart.
//
// Invariants:
//
//   - No two leaders command at the same time: a leader counts its lease valid only until
//     the moment it sent its last successful renewal plus lease_ttl minus a margin, which is
//     before the server can expire the key, and it sends no order outside that time.
//   - No miner receives orders of an older epoch after a newer one: epochs only grow, owners
//     keep the highest seen, obey a higher one only once the lease shows its leader holding
//     exactly it, and cancel (and wait for) orders of an older epoch still running when a
//     newer one is admitted or they isolate: every message of the newer epoch, not only the
//     first, waits until they returned. A node never leads below an epoch it obeyed.
//   - A leader's order runs at most stale_after - lease_ttl at the owner, whatever it asks
//     (with a policy.apply_timeout longer and firmware to call, `hashgate check` and `run` say
//     so, naming the keys).
//   - Fail-safe: an instance that heard no valid leader (heartbeat, order or its own lease)
//     for stale_after isolates itself. It gives up the epoch it followed (only a newer one is
//     obeyed again) and runs a policy.Runner of its own over its own miners with
//     safe_floor_kw and no site meter, which is the engine's own safe floor. That floor
//     also applies the last site controls this instance saw (controls.go): groups paused
//     site-wide stay paused, a cap below safe_floor_kw lowers it, and demand-response
//     events still running count, until a newer document or epoch comes. Each instance
//     keeps the last document it took in its own store (controls_kept.go), so one that
//     starts while NATS is unreachable isolates with it; NATS's first answer replaces it
//     whatever its revision (a bucket created again restarts them). When a newer
//     epoch reaches it, that Runner stops, and its in-flight commands return, before the
//     first order is carried out, so no miner is commanded by two Runners at once. A leader
//     that sees an instance report the epoch it gave up starts a new term (the next renewal's
//     revision makes the epoch) so the instance can follow again, and takes the commands
//     carried out while isolated as the miners' state (Inventory.Gen).
//   - An instance silent for stale_after leaves the site's policy; the site meter sees what
//     its miners draw as other load.
//
// Trust: NATS is the site's control bus. Whoever may publish on hashgate.<site>.> may order
// miners and announce epochs, so restrict those subjects to the instances (NATS accounts or
// user permissions). Peers' messages are still checked whole (bounded decoders, unknown
// values refused, an instance's own name from another process refused), and a malformed one
// is answered or counted and logged, never fatal.
//
// Without a [cluster] table none of this runs: the Controller runs its own Runner and no
// NATS is needed.
package cluster
