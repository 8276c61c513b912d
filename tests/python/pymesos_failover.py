"""A stock pymesos scheduler that survives a master failover (driven by the Rust test
http_scheduler::pymesos_survives_a_master_failover_through_zk).

Usage: pymesos_failover.py zk://host:port/path NUM_SHORT_TASKS

1. Launches one long task and prints "LONG RUNNING <framework id>" once it runs; the test
   then kills the leading master.
2. When pymesos has re-subscribed to the new leader (found through ZooKeeper) it prints
   "REREGISTERED <framework id>", launches NUM_SHORT_TASKS short tasks, and once they all
   finished kills the long task.
3. Exits 0 after TASK_KILLED of the long task ("ALL DONE"), 1 on anything unexpected.
"""
import getpass
import logging
import sys
import threading
import uuid

from pymesos import MesosSchedulerDriver, Scheduler

logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                    format="%(asctime)s %(name)s %(message)s")
log = logging.getLogger("pymesos-failover")


def say(text):
    print(text, flush=True)


def scalar(resources, name):
    return sum(r["scalar"]["value"] for r in resources
               if r["name"] == name and r.get("type") == "SCALAR")


def task(offer, task_id, command):
    return {
        "task_id": {"value": task_id},
        "agent_id": {"value": offer["agent_id"]["value"]},
        "name": task_id,
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}},
        ],
        "command": {"value": command},
    }


class Failover(Scheduler):
    def __init__(self, short):
        self.short = short
        self.long_id = "long-" + uuid.uuid4().hex[:6]
        self.long_launched = False
        self.long_running = False
        self.resubscribed = False
        self.short_launched = 0
        self.short_finished = set()
        self.failed = None
        self.done = threading.Event()
        self.lock = threading.Lock()

    def registered(self, driver, framework_id, master_info):
        say("REGISTERED %s" % framework_id["value"])

    def reregistered(self, driver, master_info):
        with self.lock:
            self.resubscribed = True
        say("REREGISTERED %s" % driver.framework_id)
        driver.reviveOffers()

    def resourceOffers(self, driver, offers):
        with self.lock:
            for offer in offers:
                cpus = scalar(offer["resources"], "cpus")
                mem = scalar(offer["resources"], "mem")
                tasks = []
                if not self.long_launched:
                    self.long_launched = True
                    tasks.append(task(offer, self.long_id, "sleep 600"))
                    cpus -= 0.1
                    mem -= 32
                elif self.resubscribed:
                    while self.short_launched < self.short and cpus >= 0.1 and mem >= 32:
                        self.short_launched += 1
                        tasks.append(task(offer, "short-%d-%s" % (self.short_launched, uuid.uuid4().hex[:6]), "true"))
                        cpus -= 0.1
                        mem -= 32
                if tasks:
                    driver.launchTasks(offer["id"], tasks)
                else:
                    driver.declineOffer(offer["id"], {"refuse_seconds": 1})

    def statusUpdate(self, driver, status):
        state = status["state"]
        tid = status["task_id"]["value"]
        log.info("STATUS %s %s %s", tid, state, status.get("message", ""))
        with self.lock:
            if tid == self.long_id:
                if state == "TASK_RUNNING" and not self.long_running:
                    self.long_running = True
                    say("LONG RUNNING %s" % driver.framework_id)
                elif state == "TASK_KILLED" and len(self.short_finished) == self.short:
                    self.done.set()
                elif state not in ("TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING"):
                    self.failed = "%s %s: %s" % (tid, state, status.get("message", ""))
                    self.done.set()
            elif state == "TASK_FINISHED":
                self.short_finished.add(tid)
                if len(self.short_finished) == self.short:
                    say("SHORT FINISHED %d" % self.short)
                    driver.killTask({"value": self.long_id})
            elif state not in ("TASK_STAGING", "TASK_STARTING", "TASK_RUNNING"):
                self.failed = "%s %s: %s" % (tid, state, status.get("message", ""))
                self.done.set()

    def error(self, driver, message):
        self.failed = "error: %s" % message
        self.done.set()


def main():
    master, short = sys.argv[1], int(sys.argv[2])
    sched = Failover(short)
    framework = {"user": getpass.getuser(), "name": "pymesos-failover",
                 "hostname": "localhost", "failover_timeout": 300}
    driver = MesosSchedulerDriver(sched, framework, master, use_addict=False)
    driver.start()
    ok = sched.done.wait(150)
    framework_id = driver.framework_id
    driver.stop()
    driver.join()
    if not ok:
        say("TIMEOUT")
        return 1
    if sched.failed:
        say("FAILED " + sched.failed)
        return 1
    say("ALL DONE %s" % framework_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
