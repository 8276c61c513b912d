"""A stock pymesos scheduler: launches N command tasks on our master through the v1
scheduler API and exits 0 once all of them finished (1 on a failed task or an error).

Usage: pymesos_scheduler.py MASTER NUM_TASKS [--executor]
MASTER is host:port or zk://host:port/path. With --executor the tasks run in a custom
executor written with pymesos (pymesos_executor.py, the v1 executor API), and each must
also send a framework message back.
"""
import os
import getpass
import logging
import sys
import threading
import uuid

from pymesos import MesosSchedulerDriver, Scheduler, decode_data

logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                    format="%(asctime)s %(name)s %(message)s")
log = logging.getLogger("pymesos-test")


def scalar(resources, name):
    return sum(r["scalar"]["value"] for r in resources
               if r["name"] == name and r.get("type") == "SCALAR")


class Counter(Scheduler):
    def __init__(self, total, executor):
        self.total = total
        self.executor = executor
        self.messages = set()
        self.launched = 0
        self.finished = set()
        self.failed = None
        self.done = threading.Event()

    def registered(self, driver, framework_id, master_info):
        log.info("REGISTERED %s", framework_id["value"])

    def resourceOffers(self, driver, offers):
        for offer in offers:
            cpus = scalar(offer["resources"], "cpus")
            mem = scalar(offer["resources"], "mem")
            tasks = []
            while self.launched < self.total and cpus >= 0.1 and mem >= 32:
                self.launched += 1
                cpus -= 0.1
                mem -= 32
                tasks.append({
                    "task_id": {"value": "py-%d-%s" % (self.launched, uuid.uuid4().hex[:6])},
                    "agent_id": {"value": offer["agent_id"]["value"]},
                    "name": "pymesos task %d" % self.launched,
                    "resources": [
                        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                        {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}},
                    ],
                })
                if self.executor:
                    script = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                          "pymesos_executor.py")
                    tasks[-1]["executor"] = {
                        "executor_id": {"value": "pymesos-executor"},
                        "name": "pymesos executor",
                        "command": {"value": "%s %s" % (sys.executable, script)},
                        "resources": [
                            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                            {"name": "mem", "type": "SCALAR", "scalar": {"value": 64}},
                        ],
                    }
                else:
                    tasks[-1]["command"] = {
                        "value": "echo hello from pymesos task %d" % self.launched}
            if tasks:
                log.info("LAUNCH %d tasks on %s", len(tasks), offer["agent_id"]["value"])
                driver.launchTasks(offer["id"], tasks)
            else:
                driver.declineOffer(offer["id"], {"refuse_seconds": 60})

    def statusUpdate(self, driver, status):
        state = status["state"]
        task = status["task_id"]["value"]
        log.info("STATUS %s %s %s", task, state, status.get("message", ""))
        if state == "TASK_FINISHED":
            self.finished.add(task)
            self.check_done()
        elif state in ("TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR",
                       "TASK_DROPPED", "TASK_GONE"):
            self.failed = "%s %s: %s" % (task, state, status.get("message", ""))
            self.done.set()

    def frameworkMessage(self, driver, executor_id, agent_id, data):
        text = decode_data(data).decode()
        log.info("MESSAGE from %s: %s", executor_id["value"], text)
        self.messages.add(text)
        self.check_done()

    def check_done(self):
        if len(self.finished) == self.total and (
                not self.executor or len(self.messages) == self.total):
            self.done.set()

    def error(self, driver, message):
        log.info("ERROR %s", message)
        self.failed = "error: %s" % message
        self.done.set()


def main():
    master, total = sys.argv[1], int(sys.argv[2])
    sched = Counter(total, "--executor" in sys.argv[3:])
    framework = {"user": getpass.getuser(), "name": "pymesos-test", "hostname": "localhost"}
    driver = MesosSchedulerDriver(sched, framework, master, use_addict=False)
    driver.start()
    ok = sched.done.wait(120)
    driver.stop()
    driver.join()
    if not ok:
        print("TIMEOUT finished=%d of %d" % (len(sched.finished), total))
        return 1
    if sched.failed:
        print("FAILED " + sched.failed)
        return 1
    print("ALL FINISHED %d" % len(sched.finished))
    if sched.executor:
        print("MESSAGES %d" % len(sched.messages))
    return 0


if __name__ == "__main__":
    sys.exit(main())
