# Physics Simulation: moves every haul truck, crusher and conveyor tag of the mining demo on each tick.
#
# Haul trucks run LOADING -> HAULING_LOADED -> DUMPING -> RETURNING_EMPTY along a haul road from the
# shovel on the pit floor, up a 10 % ramp, to the ROM pad of primary crusher CR_001. A truck that
# comes back while another one is under the shovel waits in QUEUING (also where the fuel truck
# refills a truck that runs low).
# Plant flow: CR_001 (primary) -> CV_001 (overland to the stockpile); CR_002 + CR_003 (secondary,
# reclaiming from the stockpile) -> CV_002 (to the process plant).
#
# State that is not a tag (road position, queue order, thermal lags) lives in
# system.util.getGlobals() between ticks. Runtime hours are seeded from the tags once, so they
# survive a gateway restart, then counted unrounded in that state: only the value written is
# rounded (reading the rounded tag back and adding to it made them run 8 % fast). CR_002's Vibration_MM_S belongs to the Fault Injection script while
# Mining/Simulation/Fault_Enabled is true and until it has decayed back to normal; CR_002's
# Alarm_Active always belongs to that script.
import math, random, time

PROVIDER = "[default]"
EQUIPMENT = PROVIDER + "Mining/Equipment/"
FAULT_ENABLED = PROVIDER + "Mining/Simulation/Fault_Enabled"
STATE_KEY = "mining_demo.physics_simulation.v1"
log = system.util.getLogger("mining_demo.PhysicsSimulation")

AMBIENT_C = 34.0
M_PER_DEG = 111320.0

# Haul road waypoints from the shovel (distance 0) to the dump point: latitude, longitude and the
# grade in percent of the segment that starts there, as seen by a loaded truck (uphill positive).
ROAD = [
	(-22.318500, 118.742100, 0.0),    # shovel face, pit floor
	(-22.317000, 118.744200, 10.0),   # foot of the ramp
	(-22.314200, 118.746000, 10.0),   # ramp switchback
	(-22.312300, 118.743300, 1.0),    # top of the ramp, pit crest
	(-22.309500, 118.744500, 0.0),    # main haul road
	(-22.304800, 118.749000, 0.0),    # ROM pad dump point at CR_001
]

TRUCKS = ["HT_001", "HT_002", "HT_003", "HT_004", "HT_005"]
TYRES = ["FL", "FR", "RL", "RR"]
RATED_PAYLOAD_T = 227.0
TANK_L = 4540.0
PASSES = 4                  # shovel bucket passes per load
REFUEL_BELOW_PCT = 20.0
REFUEL_TO_PCT = 95.0
REFUEL_PCT_PER_S = 0.15     # fuel truck pumping about 400 L/min
QUEUE_POINT_M = 40.0        # where a queuing truck waits, short of the shovel

# nominal feed t/h, normal vibration mm/s, motor no-load A, motor A per t/h, runtime hours to start from
CRUSHERS = {
	"CR_001": (2400.0, 16.0, 28.0, 0.024, 41250.0),
	"CR_002": (1150.0, 18.0, 22.0, 0.050, 38760.0),
	"CR_003": (1150.0, 17.0, 22.0, 0.050, 12480.0),
}
CRUSHER_IDS = ["CR_001", "CR_002", "CR_003"]
VIBRATION_HANDOVER_MM_S = 22.0   # CR_002 above this (fault or decay) is left to Fault Injection

# crushers feeding the belt, belt speed set point m/s, motor no-load A, motor A per t/h, runtime hours
CONVEYORS = {
	"CV_001": (["CR_001"], 4.5, 95.0, 0.085, 52310.0),
	"CV_002": (["CR_002", "CR_003"], 4.0, 95.0, 0.085, 29875.0),
}
CONVEYOR_IDS = ["CV_001", "CV_002"]
CONVEYOR_CAPACITY_TPH = 3000.0
CONVEYOR_FLA_A = 400.0


def lag(current, target, tau_s, dt):
	# first-order approach of current to target with time constant tau_s
	return current + (target - current) * min(1.0, dt / tau_s)


def clamp(value, low, high):
	return max(low, min(high, value))


# the road as segments: (start distance m, length m, from point, to point, grade %)
segments = []
road_m = 0.0
for i in range(len(ROAD) - 1):
	a = ROAD[i]
	b = ROAD[i + 1]
	dy = (b[0] - a[0]) * M_PER_DEG
	dx = (b[1] - a[1]) * M_PER_DEG * math.cos(math.radians((a[0] + b[0]) / 2.0))
	length = math.sqrt(dx * dx + dy * dy)
	segments.append((road_m, length, a, b, a[2]))
	road_m += length


def road_point(dist):
	# latitude, longitude and grade at a distance along the road
	for start, length, a, b, grade in segments:
		if dist <= start + length:
			f = clamp((dist - start) / length, 0.0, 1.0)
			return a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, grade
	last = segments[-1]
	return last[3][0], last[3][1], last[4]


def truck_speed_limit(loaded, grade):
	# km/h: a full CAT 793-class truck crawls up the ramp; an empty one comes down on the retarder
	if loaded:
		if grade >= 5.0:
			return 12.0
		return 34.0
	if grade >= 5.0:
		return 26.0
	return 45.0


def fuel_burn_lph(cycle, loaded, grade):
	if cycle in ("QUEUING", "LOADING"):
		return 35.0
	if cycle == "DUMPING":
		return 60.0
	if loaded:
		if grade >= 5.0:
			return 340.0
		return 230.0
	if grade >= 5.0:
		return 70.0
	return 150.0


def engine_target_c(cycle, loaded, grade):
	if cycle in ("QUEUING", "LOADING"):
		return 84.0
	if cycle == "DUMPING":
		return 88.0
	if loaded:
		if grade >= 5.0:
			return 99.0
		return 93.0
	return 88.0


def enter(truck, cycle, now):
	truck["cycle"] = cycle
	truck["timer"] = 0.0
	truck["speed"] = 0.0
	if cycle == "LOADING":
		truck["passes"] = 0
		truck["next_pass"] = random.uniform(25.0, 35.0)   # spot under the shovel, first bucket
	elif cycle == "DUMPING":
		truck["dump_from"] = truck["payload"]
	elif cycle == "QUEUING":
		truck["queued_at"] = now


def new_state(now):
	# the fleet starts spread over the cycle instead of all five trucks under the shovel
	start = [
		# cycle, fraction of the road, payload t, fuel %, speed km/h
		("LOADING", 0.0, 57.0, 78.0, 0.0),
		("HAULING_LOADED", 0.45, 229.0, 64.0, 12.0),
		("DUMPING", 1.0, 231.0, 52.0, 0.0),
		("RETURNING_EMPTY", 0.55, 0.0, 88.0, 26.0),
		("QUEUING", 0.0, 0.0, 41.0, 0.0),
	]
	trucks = {}
	for i in range(len(TRUCKS)):
		cycle, frac, payload, fuel, speed = start[i]
		truck = {
			"pos": frac * road_m, "payload": payload, "fuel": fuel, "engine": 88.0,
			"tyre_heat": 0.06, "vibration": 3.0, "queued_at": now, "refuel": False,
			"tyre_cold": [random.uniform(98.0, 102.0) for tyre in TYRES],
		}
		enter(truck, cycle, now)
		truck["speed"] = speed
		if cycle == "LOADING":
			truck["passes"] = 1
		trucks[TRUCKS[i]] = truck
	crushers = {}
	for cid in CRUSHER_IDS:
		nominal, vibration = CRUSHERS[cid][0], CRUSHERS[cid][1]
		crushers[cid] = {"feed_sp": nominal, "feed": nominal, "tph": nominal * 0.985,
			"vibration": vibration, "bearing": AMBIENT_C + 30.0}
	conveyors = {}
	for vid in CONVEYOR_IDS:
		tph = sum([crushers[cid]["tph"] for cid in CONVEYORS[vid][0]])
		conveyors[vid] = {"tph": tph, "motor_temp": 65.0, "vibration": 3.4}
	return {"last": now - 1.0, "trucks": trucks, "crushers": crushers, "conveyors": conveyors}


now = time.time()
globals_ = system.util.getGlobals()
state = globals_.get(STATE_KEY)
if state is None:
	state = new_state(now)
	globals_[STATE_KEY] = state
# seconds since the last tick; capped so a stalled gateway does not teleport the trucks
dt = clamp(now - state["last"], 0.0, 5.0)
state["last"] = now
if dt <= 0.0:
	return

read_paths = [FAULT_ENABLED, EQUIPMENT + "CR_002/Vibration_MM_S"]
for asset in CRUSHER_IDS + CONVEYOR_IDS:
	read_paths.append(EQUIPMENT + asset + "/Runtime_Hours")
read = system.tag.readBlocking(read_paths)
fault_enabled = read[0].quality.isGood() and bool(read[0].value)
cr002_vibration = read[1].value
runtime_read = {}
for i, asset in enumerate(CRUSHER_IDS + CONVEYOR_IDS):
	runtime_read[asset] = read[2 + i].value

paths = []
values = []


def put(asset, member, value):
	paths.append(EQUIPMENT + asset + "/" + member)
	values.append(value)


runtime_state = state.setdefault("runtime_hours", {})


def runtime_hours(asset, seed):
	hours = runtime_state.get(asset)
	if hours is None:
		hours = runtime_read[asset]
		if hours is None or hours < 1.0:
			hours = seed    # fresh tags: start from the asset's service history
	hours += dt / 3600.0    # every asset runs the whole time
	runtime_state[asset] = hours
	return round(hours, 4)


# ---- haul trucks ----
trucks = state["trucks"]


def shovel_busy():
	for name in TRUCKS:
		if trucks[name]["cycle"] == "LOADING":
			return True
	return False


def head_of_queue():
	waiting = [name for name in TRUCKS if trucks[name]["cycle"] == "QUEUING" and not trucks[name]["refuel"]]
	if not waiting:
		return None
	return min(waiting, key=lambda name: trucks[name]["queued_at"])


for name in TRUCKS:
	t = trucks[name]
	t["timer"] += dt
	bucket_landed = False
	cycle = t["cycle"]

	if cycle == "QUEUING":
		if t["refuel"]:
			t["fuel"] = min(REFUEL_TO_PCT, t["fuel"] + REFUEL_PCT_PER_S * dt)
			if t["fuel"] >= REFUEL_TO_PCT:
				t["refuel"] = False
				t["queued_at"] = now
		elif not shovel_busy() and head_of_queue() == name:
			enter(t, "LOADING", now)

	elif cycle == "LOADING":
		if t["timer"] >= t["next_pass"]:
			if t["passes"] < PASSES:
				t["payload"] += random.uniform(53.0, 61.0)
				t["passes"] += 1
				bucket_landed = True
				if t["passes"] < PASSES:
					t["next_pass"] = t["timer"] + random.uniform(28.0, 36.0)
				else:
					t["next_pass"] = t["timer"] + 10.0    # operator pulls away
			else:
				enter(t, "HAULING_LOADED", now)

	elif cycle == "DUMPING":
		# 15 s to reverse onto the tip, 30 s raising the body, 15 s lowering it
		tipped = clamp((t["timer"] - 15.0) / 30.0, 0.0, 1.0)
		t["payload"] = t["dump_from"] * (1.0 - tipped)
		if t["timer"] >= 60.0:
			t["payload"] = 0.0
			enter(t, "RETURNING_EMPTY", now)

	else:
		loaded = cycle == "HAULING_LOADED"
		if loaded:
			remaining = road_m - t["pos"]
		else:
			remaining = t["pos"]
		grade = road_point(t["pos"])[2]
		limit = truck_speed_limit(loaded, grade)
		# brake to a stop at the end of the road at 1 m/s2: v = sqrt(2 a s)
		limit = min(limit, math.sqrt(2.0 * max(remaining, 0.0)) * 3.6)
		if t["speed"] < limit:
			t["speed"] = min(limit, t["speed"] + (1.0 if loaded else 2.0) * dt)
		else:
			t["speed"] = max(limit, t["speed"] - 3.6 * dt)
		step = t["speed"] / 3.6 * dt
		if loaded:
			t["pos"] = min(road_m, t["pos"] + step)
		else:
			t["pos"] = max(0.0, t["pos"] - step)
		if remaining - step <= 0.5:
			if loaded:
				t["pos"] = road_m
				enter(t, "DUMPING", now)
			elif t["fuel"] < REFUEL_BELOW_PCT:
				t["pos"] = 0.0
				enter(t, "QUEUING", now)
				t["refuel"] = True
			elif shovel_busy() or head_of_queue() is not None:
				t["pos"] = 0.0
				enter(t, "QUEUING", now)
			else:
				t["pos"] = 0.0
				enter(t, "LOADING", now)

	cycle = t["cycle"]
	loaded = t["payload"] > 10.0
	lat, lon, grade = road_point(t["pos"])
	if cycle == "QUEUING":
		lat, lon, grade = road_point(QUEUE_POINT_M)
	t["fuel"] = max(0.0, t["fuel"] - fuel_burn_lph(cycle, loaded, grade) * dt / 3600.0 / TANK_L * 100.0)
	t["engine"] = lag(t["engine"], engine_target_c(cycle, loaded, grade), 90.0, dt) + random.gauss(0.0, 0.1)
	# tyres warm up with speed and load (hot pressure about 10 % over cold) and cool slowly when parked
	heat_target = 0.02 + 0.09 * min(t["speed"] / 40.0, 1.2) * (0.55 + 0.45 * t["payload"] / RATED_PAYLOAD_T)
	t["tyre_heat"] = lag(t["tyre_heat"], heat_target, 600.0, dt)
	vibration = 1.6 + 0.07 * t["speed"]
	if loaded:
		vibration += 1.0
	if cycle == "DUMPING" and 15.0 <= t["timer"] < 60.0:
		vibration += 1.5
	if bucket_landed:
		vibration += random.uniform(6.0, 10.0)
	t["vibration"] = max(0.3, lag(t["vibration"], vibration, 2.0, dt) + random.gauss(0.0, 0.3))

	moving = t["speed"] > 0.0
	gps_noise = 1.0 / M_PER_DEG    # about 1 m of GPS scatter
	put(name, "Location_Lat", round(lat + random.gauss(0.0, gps_noise), 6))
	put(name, "Location_Lon", round(lon + random.gauss(0.0, gps_noise), 6))
	put(name, "Speed_KPH", round(max(0.0, t["speed"] + random.gauss(0.0, 0.2)), 2) if moving else 0.0)
	put(name, "Payload_Tonnes", round(max(0.0, t["payload"] + random.gauss(0.0, 0.8)), 2) if t["payload"] > 0.0 else 0.0)
	put(name, "Fuel_Level_Pct", round(t["fuel"], 2))
	put(name, "Engine_Temp_C", round(t["engine"], 2))
	for i in range(len(TYRES)):
		pressure = t["tyre_cold"][i] * (1.0 + t["tyre_heat"]) + random.gauss(0.0, 0.3)
		put(name, "Tire_Pressure_" + TYRES[i] + "_PSI", round(pressure, 2))
	put(name, "Vibration_MM_S", round(t["vibration"], 2))
	if t["engine"] >= 115.0:
		status = "FAULT"
	elif cycle == "QUEUING":
		status = "IDLE"
	else:
		status = "RUNNING"
	put(name, "Status", status)
	put(name, "Cycle_State", cycle)

# ---- crushers ----
for cid in CRUSHER_IDS:
	c = state["crushers"][cid]
	nominal, normal_vibration, no_load_a, a_per_tph, seed_hours = CRUSHERS[cid]
	# the feed set point wanders around nominal (ore hardness, bin level); feed and product follow it
	c["feed_sp"] += random.gauss(0.0, nominal * 0.004) + (nominal - c["feed_sp"]) * min(1.0, 0.01 * dt)
	c["feed"] = lag(c["feed"], c["feed_sp"], 5.0, dt)
	c["tph"] = lag(c["tph"], c["feed"] * 0.985, 20.0, dt)
	load = c["tph"] / nominal

	owns_vibration = True
	if cid == "CR_002":
		if fault_enabled or cr002_vibration is None or cr002_vibration > VIBRATION_HANDOVER_MM_S:
			owns_vibration = False
			if cr002_vibration is not None:
				c["vibration"] = float(cr002_vibration)
		else:
			c["vibration"] = float(cr002_vibration)
	if owns_vibration:
		target = normal_vibration * (0.85 + 0.15 * load)
		c["vibration"] = max(0.5, lag(c["vibration"], target, 3.0, dt) + random.gauss(0.0, 0.5))

	# the main bearing runs warmer with load, and much warmer while the frame is shaking
	bearing_target = AMBIENT_C + 14.0 + 16.0 * load + 0.5 * max(0.0, c["vibration"] - 25.0)
	c["bearing"] = lag(c["bearing"], bearing_target, 240.0, dt) + random.gauss(0.0, 0.05)
	feed = max(0.0, c["feed"] + random.gauss(0.0, nominal * 0.006))
	tph = max(0.0, c["tph"] + random.gauss(0.0, nominal * 0.004))
	current = no_load_a + a_per_tph * tph + random.gauss(0.0, 0.6)

	put(cid, "Status", "RUNNING")
	put(cid, "Throughput_TPH", round(tph, 1))
	put(cid, "Feed_Rate_TPH", round(feed, 1))
	if owns_vibration:
		put(cid, "Vibration_MM_S", round(c["vibration"], 2))
	put(cid, "Motor_Current_A", round(current, 2))
	put(cid, "Bearing_Temp_C", round(c["bearing"], 2))
	put(cid, "Runtime_Hours", runtime_hours(cid, seed_hours))
	if cid != "CR_002":
		alarm = c["vibration"] > 40.0 or c["bearing"] > 85.0 or current > 105.0 or feed > 3200.0
		put(cid, "Alarm_Active", alarm)

# ---- conveyors ----
for vid in CONVEYOR_IDS:
	v = state["conveyors"][vid]
	sources, belt_sp, no_load_a, a_per_tph, seed_hours = CONVEYORS[vid]
	feed = sum([state["crushers"][cid]["tph"] for cid in sources])
	v["tph"] = lag(v["tph"], feed, 45.0, dt)    # ore takes a while to reach the belt weigher
	load = v["tph"] / CONVEYOR_CAPACITY_TPH
	current = no_load_a + a_per_tph * v["tph"] + random.gauss(0.0, 1.5)
	v["motor_temp"] = lag(v["motor_temp"], AMBIENT_C + 60.0 * (current / CONVEYOR_FLA_A) ** 2, 600.0, dt)
	v["vibration"] = max(0.2, lag(v["vibration"], 2.4 + 1.2 * load, 5.0, dt) + random.gauss(0.0, 0.15))
	tph = max(0.0, v["tph"] + random.gauss(0.0, 10.0))

	put(vid, "Status", "RUNNING")
	put(vid, "Belt_Speed_MPS", round(belt_sp - 0.04 * load + random.gauss(0.0, 0.01), 3))
	put(vid, "Motor_Current_A", round(current, 2))
	put(vid, "Throughput_TPH", round(tph, 1))
	put(vid, "Load_Pct", round(tph / CONVEYOR_CAPACITY_TPH * 100.0, 2))
	put(vid, "Vibration_MM_S", round(v["vibration"], 2))
	put(vid, "Motor_Temp_C", round(v["motor_temp"], 2))
	put(vid, "Runtime_Hours", runtime_hours(vid, seed_hours))

results = system.tag.writeBlocking(paths, values)
failed = [paths[i] for i in range(len(paths)) if not results[i].isGood()]
if failed and not state.get("write_warned"):
	log.warn("Physics Simulation could not write %d tags, e.g. %s (%s)" % (len(failed), failed[0], results[paths.index(failed[0])]))
	state["write_warned"] = True
elif not failed:
	state["write_warned"] = False
