"""A stock pymesos executor (the v1 executor API): for each task it sends TASK_RUNNING, a
framework message "hello from <task id>" and TASK_FINISHED. Run by the agent as the
custom executor of pymesos_scheduler.py --executor.
"""
import logging
import sys
import threading

from pymesos import Executor, MesosExecutorDriver, encode_data

logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                    format="%(asctime)s %(name)s %(message)s")


class Hello(Executor):
    def registered(self, driver, executor_info, framework_info, agent_info):
        logging.info("executor %s registered on agent %s",
                     executor_info["executor_id"]["value"], agent_info["id"]["value"])

    def launchTask(self, driver, task):
        def run():
            tid = task["task_id"]
            driver.sendStatusUpdate({"task_id": tid, "state": "TASK_RUNNING"})
            driver.sendFrameworkMessage(encode_data(("hello from " + tid["value"]).encode()))
            driver.sendStatusUpdate({"task_id": tid, "state": "TASK_FINISHED",
                                     "message": "done by the pymesos executor"})
        threading.Thread(target=run, daemon=True).start()

    def killTask(self, driver, task_id):
        driver.sendStatusUpdate({"task_id": task_id, "state": "TASK_KILLED"})


if __name__ == "__main__":
    MesosExecutorDriver(Hello(), use_addict=False).run()
