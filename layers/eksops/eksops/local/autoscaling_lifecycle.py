"""Auto Scaling terminate lifecycle hooks as AWS runs them: the wait, the EventBridge event, the
heartbeat, the completion and the timeout.

moto 5.2 records lifecycle hooks (PutLifecycleHook, DescribeLifecycleHooks) but terminates an
instance the moment it leaves its group, and has no CompleteLifecycleAction or
RecordLifecycleActionHeartbeat. ``install()`` adapts moto in-process so that, for
``autoscaling:EC2_INSTANCE_TERMINATING`` hooks, as in AWS:

- An instance leaving a group that has such hooks (scale-in by SetDesiredCapacity or
  UpdateAutoScalingGroup, an EKS managed node group's scaling, TerminateInstanceInAutoScalingGroup)
  is not terminated: its LifecycleState is ``Terminating:Wait`` (DescribeAutoScalingInstances,
  DescribeAutoScalingGroups) and EC2 keeps it running. Scale-in takes InService instances only
  (moto took any, Standby and leaving ones included).
- Each terminating hook starts a lifecycle action with its own token, and Auto Scaling's event is
  put on the account's default event bus through PutEvents, so rules route it: source
  ``aws.autoscaling``, detail-type ``EC2 Instance-terminate Lifecycle Action``, resources the
  group's ARN, detail ``LifecycleActionToken``, ``AutoScalingGroupName``, ``LifecycleHookName``,
  ``EC2InstanceId``, ``LifecycleTransition``, ``NotificationMetadata`` (when the hook has it),
  ``Origin`` ``AutoScalingGroup`` and ``Destination`` ``EC2`` (the EC2 Auto Scaling event
  reference's scale-in lifecycle action). Events are best effort, as AWS says: a failure to put
  one is logged and scaling goes on.
- Desired capacity: scale-in has lowered it already; TerminateInstanceInAutoScalingGroup with
  ShouldDecrementDesiredCapacity lowers it at once (refused with AWS's ValidationError when it
  would go below MinSize), without it a replacement launches at once, since an instance in
  ``Terminating:Wait`` no longer counts toward the group's capacity. An instance no group has is
  AWS's ``Instance Id not found - No managed instance found for instance ID: <id>``.
- RecordLifecycleActionHeartbeat (by token or instance ID) restarts the heartbeat timeout;
  CompleteLifecycleAction with CONTINUE or ABANDON (by token or instance ID) ends the action.
  For terminating hooks both results terminate the instance; ABANDON also ends the instance's
  other hooks' actions, CONTINUE waits for them. A token or instance with no active action is
  AWS's ValidationError ``No active Lifecycle Action found with token <token>`` (``... with
  instance ID <id>``).
- When HeartbeatTimeout passes without a heartbeat, or the global timeout (100 times the
  heartbeat timeout, at most 48 hours) passes, the hook's DefaultResult applies.
- CreateAutoScalingGroup's LifecycleHookSpecificationList gives the group its hooks (moto ignored
  it). PutLifecycleHook updates an existing hook keeping what the request leaves out, and keeps
  NotificationMetadata, NotificationTargetARN and RoleARN (moto showed made-up role and queue ARNs
  and a fixed GlobalTimeout); DescribeLifecycleHooks shows GlobalTimeout as AWS computes it.
  DeleteLifecycleHook first completes the hook's outstanding actions with CONTINUE.
- DeleteAutoScalingGroup (which moto never refuses: AWS's ForceDelete) terminates the instances
  still waiting and drops their actions and the group's hooks (moto kept the hooks, so a new group
  of the same name had them). EC2 TerminateInstances of a waiting instance ends its actions.

Time: deadlines are read from this module's clock (``set_clock``; default ``time.monotonic``),
and the hook's seconds are scaled by the engine's time scale (``sfn_time``), as Wait states are,
so a test or the demo can run a 30-minute hook in seconds. Nothing runs in the background:
timeouts apply when the next Auto Scaling, EC2 or EKS request of the account and region arrives,
or when ``advance()`` is called, as EKS's delays do.

Consumers (``subscribe``) are told of each action when it starts and again at every check while
it waits; EKS's side of a managed node group's ``Terminate-LC-Hook`` is one (``eks.nodegroups``).

Not reproduced: launch hooks (instances launch InService; the hook is recorded only), messages to
a hook's NotificationTargetARN (SQS, SNS) and its test notification, warm pools, the
``Terminating``/``Terminating:Proceed`` steps (the instance goes from ``Terminating:Wait`` to
terminated and leaves the group), groups with a mixed instances policy with overrides (moto's
immediate termination), and DescribeScalingActivities (moto lists none). Two answers are this
module's own, AWS's not being documented: the ValidationError when a completion or heartbeat
names neither token nor instance, and TerminateInstanceInAutoScalingGroup of an instance already
waiting (answered with its activity, nothing changed).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eksops.local import sfn_time

LOG = logging.getLogger(__name__)

__all__ = [
    "DETAIL_TYPE",
    "LAUNCHING",
    "SOURCE",
    "TERMINATING",
    "TERMINATING_WAIT",
    "LifecycleAction",
    "actions",
    "advance",
    "complete",
    "install",
    "record_heartbeat",
    "set_clock",
    "subscribe",
    "unsubscribe",
]

TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
IN_SERVICE = "InService"
TERMINATING_WAIT = "Terminating:Wait"
SOURCE = "aws.autoscaling"
DETAIL_TYPE = "EC2 Instance-terminate Lifecycle Action"
RESULTS = ("CONTINUE", "ABANDON")
MAX_GLOBAL_TIMEOUT = 172800  # 48 hours
GLOBAL_TIMEOUT_FACTOR = 100

_MARK = "_eksops_lifecycle_hooks"
_ACTIONS = "_eksops_lifecycle_actions"  # on moto's AutoScalingBackend: token -> action
_FORCED = "_eksops_force_delete"  # on a group being deleted: its instances go without hooks


@dataclass
class LifecycleAction:
    """One hook's lifecycle action for one instance. Deadlines are on this module's clock."""

    token: str
    account_id: str
    region: str
    group_name: str
    hook_name: str
    instance_id: str
    transition: str
    heartbeat_timeout: int
    default_result: str
    deadline: float  # when the heartbeat timeout passes
    global_deadline: float
    notes: dict[str, Any] = field(default_factory=dict)  # what a consumer keeps between checks


Consumer = Callable[[LifecycleAction], None]

# One lock for every lifecycle change: moto's server answers requests on many threads. Taken
# after the EKS state lock when both are (EKS scales node groups while holding its own).
_LOCK = threading.RLock()
_clock: Callable[[], float] = time.monotonic
_consumers: list[Consumer] = []
_waiting: list[Any] = []  # moto backends that have actions


def install() -> None:
    """Adapt moto's Auto Scaling as the module docstring says. Idempotent."""
    from moto.autoscaling.models import AutoScalingBackend

    if getattr(AutoScalingBackend, _MARK, False):
        return
    _install_hooks()
    _install_scale_in()
    _install_backend()
    _install_responses()
    setattr(AutoScalingBackend, _MARK, True)


def set_clock(clock: Callable[[], float] | None) -> None:
    """The clock deadlines are read from (None: ``time.monotonic``). Tests pass a fake one."""
    global _clock
    _clock = clock or time.monotonic


def subscribe(consumer: Consumer) -> None:
    """Tell ``consumer`` of every action when it starts and at every check while it waits.
    It runs with this module's lock held: it may call ``complete``, but must not take the EKS
    state lock or call the AWS API."""
    with _LOCK:
        if consumer not in _consumers:
            _consumers.append(consumer)


def unsubscribe(consumer: Consumer) -> None:
    with _LOCK:
        if consumer in _consumers:
            _consumers.remove(consumer)


def actions(account_id: str, region: str, group_name: str | None = None) -> list[LifecycleAction]:
    """The active actions of an account and region (of one group when named), after applying
    the timeouts that have passed. Copies: changing them changes nothing."""
    with _LOCK:
        backend = _backend(account_id, region)
        _expire(backend)
        found = [
            copy.deepcopy(action)
            for action in _actions_of(backend).values()
            if group_name is None or action.group_name == group_name
        ]
    return found


def advance(account_id: str | None = None, region: str | None = None) -> None:
    """Apply the timeouts that have passed (of one account and region, or all), then tell the
    consumers of the actions still waiting."""
    with _LOCK:
        for backend in list(_waiting):
            if not _actions_of(backend):
                _waiting.remove(backend)
                continue
            if account_id is not None and backend.account_id != account_id:
                continue
            if region is not None and backend.region_name != region:
                continue
            _expire(backend)
            _notify(backend, list(_actions_of(backend).values()))


def complete(
    account_id: str,
    region: str,
    group_name: str,
    hook_name: str,
    result: str,
    *,
    token: str | None = None,
    instance_id: str | None = None,
) -> LifecycleAction:
    """CompleteLifecycleAction. Raises moto's Auto Scaling ValidationError as AWS answers."""
    from moto.autoscaling.exceptions import ValidationError

    if result not in RESULTS:
        raise ValidationError(f"LifecycleActionResult must be one of {', '.join(RESULTS)}")
    with _LOCK:
        backend = _backend(account_id, region)
        _expire(backend)
        action = _find(backend, group_name, hook_name, token, instance_id)
        _finish(backend, action, result)
        return copy.deepcopy(action)


def record_heartbeat(
    account_id: str,
    region: str,
    group_name: str,
    hook_name: str,
    *,
    token: str | None = None,
    instance_id: str | None = None,
) -> LifecycleAction:
    """RecordLifecycleActionHeartbeat: the heartbeat timeout starts again (never past the
    global timeout)."""
    with _LOCK:
        backend = _backend(account_id, region)
        _expire(backend)
        action = _find(backend, group_name, hook_name, token, instance_id)
        renewed = _clock() + sfn_time.scaled(action.heartbeat_timeout)
        action.deadline = min(renewed, action.global_deadline)
        return copy.deepcopy(action)


# --- the actions -------------------------------------------------------------------------------


def _backend(account_id: str, region: str) -> Any:
    from moto.autoscaling.models import autoscaling_backends

    return autoscaling_backends[account_id][region]


def _actions_of(backend: Any) -> dict[str, LifecycleAction]:
    found = getattr(backend, _ACTIONS, None)
    if found is None:  # moto's reset empties the backend's attributes: actions go with it
        found = {}
        setattr(backend, _ACTIONS, found)
    return found


def _terminating_hooks(backend: Any, group_name: str) -> list[Any]:
    return [
        hook
        for hook in list(backend.lifecycle_hooks.values())
        if hook.auto_scaling_group_name == group_name and hook.lifecycle_transition == TERMINATING
    ]


def _hooks_apply(backend: Any, group: Any) -> list[Any]:
    """The group's terminating hooks, unless it is being deleted or has a mixed instances
    policy with overrides (whose instance count moto computes apart from the desired
    capacity)."""
    if getattr(group, _FORCED, False):
        return []
    overrides = ((group.mixed_instances_policy or {}).get("LaunchTemplate") or {}).get("Overrides")
    if overrides:
        return []
    return _terminating_hooks(backend, group.name)


def _begin(backend: Any, group: Any, state: Any, hooks: list[Any]) -> list[LifecycleAction]:
    """The instance waits: one action per hook, each announced on the default event bus."""
    state.lifecycle_state = TERMINATING_WAIT
    now = _clock()
    started = []
    for hook in hooks:
        timeout = int(hook.heartbeat_timeout)
        action = LifecycleAction(
            token=str(uuid.uuid4()),
            account_id=backend.account_id,
            region=backend.region_name,
            group_name=group.name,
            hook_name=hook.name,
            instance_id=state.instance.id,
            transition=TERMINATING,
            heartbeat_timeout=timeout,
            default_result=hook.default_result,
            deadline=now + sfn_time.scaled(timeout),
            global_deadline=now + sfn_time.scaled(_global_timeout(timeout)),
        )
        _actions_of(backend)[action.token] = action
        started.append(action)
        _announce(group, hook, action)
        LOG.info(
            "instance %s of %s waits for lifecycle hook %s (token %s)",
            action.instance_id,
            group.name,
            hook.name,
            action.token,
        )
    if started and backend not in _waiting:
        _waiting.append(backend)
    return started


def _global_timeout(heartbeat_timeout: int) -> int:
    return min(GLOBAL_TIMEOUT_FACTOR * heartbeat_timeout, MAX_GLOBAL_TIMEOUT)


def _announce(group: Any, hook: Any, action: LifecycleAction) -> None:
    """Auto Scaling's event for an instance put into Terminating:Wait."""
    from moto.events.models import events_backends

    detail: dict[str, Any] = {
        "LifecycleActionToken": action.token,
        "AutoScalingGroupName": action.group_name,
        "LifecycleHookName": action.hook_name,
        "EC2InstanceId": action.instance_id,
        "LifecycleTransition": action.transition,
    }
    metadata = getattr(hook, "notification_metadata", None)
    if metadata is not None:
        detail["NotificationMetadata"] = metadata
    detail |= {"Origin": "AutoScalingGroup", "Destination": "EC2"}
    entry = {
        "Source": SOURCE,
        "DetailType": DETAIL_TYPE,
        "Detail": json.dumps(detail),
        "Resources": [group.arn],
    }
    try:
        events_backends[action.account_id][action.region].put_events([entry])
    except Exception:  # AWS: events are produced on a best-effort basis
        LOG.exception("lifecycle action %s: the EventBridge event was not put", action.token)


def _find(
    backend: Any, group_name: str, hook_name: str, token: str | None, instance_id: str | None
) -> LifecycleAction:
    from moto.autoscaling.exceptions import ValidationError

    if not token and not instance_id:
        raise ValidationError("Either LifecycleActionToken or InstanceId must be specified")
    for action in _actions_of(backend).values():
        if (
            action.group_name == group_name
            and action.hook_name == hook_name
            and (not token or action.token == token)
            and (not instance_id or action.instance_id == instance_id)
        ):
            return action
    if token:
        raise ValidationError(f"No active Lifecycle Action found with token {token}")
    raise ValidationError(f"No active Lifecycle Action found with instance ID {instance_id}")


def _finish(backend: Any, action: LifecycleAction, result: str) -> None:
    """End ``action``; the instance terminates once none of its hooks' actions is left (ABANDON
    ends them all)."""
    pending = _actions_of(backend)
    pending.pop(action.token, None)
    siblings = [
        other
        for other in pending.values()
        if (other.group_name, other.instance_id) == (action.group_name, action.instance_id)
    ]
    if result == "ABANDON":
        for other in siblings:
            pending.pop(other.token, None)
        siblings = []
    LOG.info(
        "lifecycle action %s of %s (%s): %s",
        action.token,
        action.instance_id,
        action.hook_name,
        result,
    )
    if not siblings:
        _terminate(backend, action.group_name, action.instance_id)


def _terminate(backend: Any, group_name: str, instance_id: str) -> None:
    from moto.ec2.exceptions import InvalidInstanceIdError

    group = backend.autoscaling_groups.get(group_name)
    if group is not None:
        group.instance_states = [s for s in group.instance_states if s.instance.id != instance_id]
    with contextlib.suppress(InvalidInstanceIdError):  # gone already
        backend.ec2_backend.terminate_instances([instance_id])
    if group is not None:
        backend.update_attached_elbs(group_name)
        backend.update_attached_target_groups(group_name)


def _waits(backend: Any, action: LifecycleAction) -> bool:
    """Whether the action's instance is still in its group, waiting."""
    group = backend.autoscaling_groups.get(action.group_name)
    return group is not None and any(
        s.instance.id == action.instance_id and s.lifecycle_state == TERMINATING_WAIT
        for s in group.instance_states
    )


def _expire(backend: Any) -> None:
    """The default result of every action whose heartbeat or global timeout has passed; actions
    of instances that left otherwise (EC2 TerminateInstances, a deleted group) are dropped."""
    pending = _actions_of(backend)
    now = _clock()
    for action in list(pending.values()):
        if action.token not in pending:
            continue  # ended with a sibling
        if not _waits(backend, action):
            pending.pop(action.token, None)
        elif now >= min(action.deadline, action.global_deadline):
            LOG.info("lifecycle action %s timed out", action.token)
            _finish(backend, action, action.default_result)


def _notify(backend: Any, started: list[LifecycleAction]) -> None:
    pending = _actions_of(backend)
    for action in started:
        for consumer in list(_consumers):
            if action.token not in pending:
                break
            try:
                consumer(action)
            except Exception:  # a consumer's failure never fails the request that checked
                LOG.exception("lifecycle action %s: consumer %r failed", action.token, consumer)


def _drop(backend: Any, keep: Callable[[LifecycleAction], bool]) -> None:
    pending = _actions_of(backend)
    for token, action in list(pending.items()):
        if not keep(action):
            del pending[token]


# --- moto: hooks -------------------------------------------------------------------------------


def _install_hooks() -> None:
    from moto.autoscaling.models import LifecycleHook, make_int
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import EmptyResult

    create = LifecycleHook.__init__

    def __init__(
        self: Any,
        name: str,
        as_name: str,
        transition: str | None,
        timeout: int | None,
        result: str | None,
    ) -> None:
        """No made-up role or notification target (moto's), and AWS's global timeout."""
        create(self, name, as_name, transition, timeout, result)
        self.role_arn = None
        self.notification_target_arn = None
        self.notification_metadata = None

    LifecycleHook.__init__ = __init__
    LifecycleHook.global_timeout = property(
        lambda self: _global_timeout(int(self.heartbeat_timeout)),
        lambda self, value: None,  # moto's __init__ sets a fixed one
    )

    def put_lifecycle_hook(self: Any) -> Any:
        """New hooks get AWS's defaults; an existing one keeps what the request leaves out."""
        backend = self.autoscaling_backend
        group_name = self._get_param("AutoScalingGroupName")
        name = self._get_param("LifecycleHookName")
        existing = backend.lifecycle_hooks.get(f"{group_name}_{name}")

        def given(value: Any, attribute: str) -> Any:
            if value is not None or existing is None:
                return value
            return getattr(existing, attribute, None)

        hook = backend.create_lifecycle_hook(
            name=name,
            as_name=group_name,
            transition=given(self._get_param("LifecycleTransition"), "lifecycle_transition"),
            timeout=given(self._get_int_param("HeartbeatTimeout"), "heartbeat_timeout"),
            result=given(self._get_param("DefaultResult"), "default_result"),
        )
        for param, attribute in (
            ("NotificationMetadata", "notification_metadata"),
            ("NotificationTargetARN", "notification_target_arn"),
            ("RoleARN", "role_arn"),
        ):
            setattr(hook, attribute, given(self._get_param(param), attribute))
        return EmptyResult()

    delete_hook = AutoScalingResponse.delete_lifecycle_hook

    def delete_lifecycle_hook(self: Any) -> Any:
        """Outstanding actions of the hook are completed first: CONTINUE for terminating
        instances."""
        backend = self.autoscaling_backend
        group_name = self._get_param("AutoScalingGroupName")
        name = self._get_param("LifecycleHookName")
        with _LOCK:
            for action in list(_actions_of(backend).values()):
                ours = (action.group_name, action.hook_name) == (group_name, name)
                if ours and action.token in _actions_of(backend):
                    _finish(backend, action, "CONTINUE")
            return delete_hook(self)

    create_group = AutoScalingResponse.create_auto_scaling_group

    def create_auto_scaling_group(self: Any) -> Any:
        """LifecycleHookSpecificationList: the group's hooks from the start (moto ignored it)."""
        answer = create_group(self)
        backend = self.autoscaling_backend
        group_name = self._get_param("AutoScalingGroupName")
        for spec in self._get_param("LifecycleHookSpecificationList", []) or []:
            hook = backend.create_lifecycle_hook(
                name=spec.get("LifecycleHookName"),
                as_name=group_name,
                transition=spec.get("LifecycleTransition"),
                timeout=make_int(spec.get("HeartbeatTimeout")),
                result=spec.get("DefaultResult"),
            )
            hook.notification_metadata = spec.get("NotificationMetadata")
            hook.notification_target_arn = spec.get("NotificationTargetARN")
            hook.role_arn = spec.get("RoleARN")
        return answer

    AutoScalingResponse.put_lifecycle_hook = put_lifecycle_hook
    AutoScalingResponse.delete_lifecycle_hook = delete_lifecycle_hook
    AutoScalingResponse.create_auto_scaling_group = create_auto_scaling_group


# --- moto: instances leaving their group -----------------------------------------------------


def _install_scale_in() -> None:
    from moto.autoscaling.models import FakeAutoScalingGroup

    set_desired = FakeAutoScalingGroup.set_desired_capacity

    @functools.wraps(set_desired)
    def set_desired_capacity(self: Any, new_capacity: int | None) -> None:
        """Scale-in puts InService instances into Terminating:Wait when the group has
        terminating hooks; launching is moto's (which counts InService instances only)."""
        backend = self.autoscaling_backend
        with _LOCK:
            hooks = _hooks_apply(backend, self)
            if not hooks:
                set_desired(self, new_capacity)
                return
            protected = {id(s): s.protected_from_scale_in for s in self.instance_states}
            for state in self.instance_states:
                state.protected_from_scale_in = True  # so moto removes nothing
            try:
                set_desired(self, new_capacity)
            finally:
                for state in self.instance_states:
                    if id(state) in protected:
                        state.protected_from_scale_in = protected[id(state)]
            excess = len(self.active_instances()) - (self.desired_capacity or 0)
            leaving = [
                s
                for s in self.instance_states
                if s.lifecycle_state == IN_SERVICE and not s.protected_from_scale_in
            ][: max(excess, 0)]
            started = [a for s in leaving for a in _begin(backend, self, s, hooks)]
            _notify(backend, started)

    FakeAutoScalingGroup.set_desired_capacity = set_desired_capacity


def _install_backend() -> None:
    from moto.autoscaling.exceptions import ValidationError
    from moto.autoscaling.models import AutoScalingBackend, TerminateInstanceActivity

    terminate = AutoScalingBackend.terminate_instance
    delete_group = AutoScalingBackend.delete_auto_scaling_group
    notify_terminated = AutoScalingBackend.notify_terminate_instances

    @functools.wraps(terminate)
    def terminate_instance(self: Any, instance_id: str, should_decrement: bool) -> Any:
        """TerminateInstanceInAutoScalingGroup: AWS's errors; with terminating hooks the
        instance waits, and without a decrement its replacement launches at once."""
        with _LOCK:
            _expire(self)
            found = [
                (group, state)
                for group in list(self.autoscaling_groups.values())
                for state in group.instance_states
                if state.instance.id == instance_id
            ]
            if not found:
                raise ValidationError(
                    "Instance Id not found - No managed instance found for instance ID: "
                    f"{instance_id}"
                )
            group, state = found[0]
            if should_decrement and (group.desired_capacity or 0) <= (group.min_size or 0):
                raise ValidationError(
                    f"Currently, desiredSize equals minSize ({group.min_size}). Terminating "
                    "instance without replacement will violate group's min size constraint. "
                    "Either set shouldDecrementDesiredCapacity flag to false or lower group's "
                    "min size."
                )
            hooks = _hooks_apply(self, group)
            if not hooks:
                return terminate(self, instance_id, should_decrement)
            original_size = group.desired_capacity
            if state.lifecycle_state == TERMINATING_WAIT:
                return TerminateInstanceActivity(state.instance, original_size)
            if should_decrement:
                group.desired_capacity = original_size - 1
            started = _begin(self, group, state, hooks)
            group.set_desired_capacity(group.desired_capacity)  # the replacement, if any
            _notify(self, started)
            return TerminateInstanceActivity(state.instance, original_size)

    @functools.wraps(delete_group)
    def delete_auto_scaling_group(self: Any, group_name: str) -> None:
        """The waiting instances are terminated and their actions dropped, as is the group's
        every hook."""
        group = self.autoscaling_groups.get(group_name)
        if group is None:
            delete_group(self, group_name)  # moto's ValidationError
            return
        with _LOCK:
            _drop(self, lambda action: action.group_name != group_name)
            waiting = [s for s in group.instance_states if s.lifecycle_state == TERMINATING_WAIT]
            if waiting:
                group.instance_states = [s for s in group.instance_states if s not in waiting]
                self.ec2_backend.terminate_instances([s.instance.id for s in waiting])
            setattr(group, _FORCED, True)
            try:
                delete_group(self, group_name)
            finally:
                setattr(group, _FORCED, False)
            for key, hook in list(self.lifecycle_hooks.items()):
                if hook.auto_scaling_group_name == group_name:
                    del self.lifecycle_hooks[key]

    @functools.wraps(notify_terminated)
    def notify_terminate_instances(self: Any, instance_ids: list[str]) -> None:
        """EC2 TerminateInstances: a waiting instance's actions end with it."""
        with _LOCK:
            gone = set(instance_ids)
            _drop(self, lambda action: action.instance_id not in gone)
            notify_terminated(self, instance_ids)

    AutoScalingBackend.terminate_instance = terminate_instance
    AutoScalingBackend.delete_auto_scaling_group = delete_auto_scaling_group
    AutoScalingBackend.notify_terminate_instances = notify_terminate_instances


# --- moto: the API -----------------------------------------------------------------------------


def _install_responses() -> None:
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import EmptyResult
    from moto.ec2.responses import EC2Response

    autoscaling_backend = AutoScalingResponse.autoscaling_backend

    def checked_autoscaling_backend(self: Any) -> Any:
        """Every Auto Scaling request first applies the timeouts that have passed."""
        advance(self.current_account, self.region)
        return autoscaling_backend.fget(self)

    ec2_backend = EC2Response.ec2_backend

    def checked_ec2_backend(self: Any) -> Any:
        """So does every EC2 request: DescribeInstances shows a timed-out instance gone."""
        advance(self.current_account, self.region)
        return ec2_backend.fget(self)

    def complete_lifecycle_action(self: Any) -> Any:
        advance(self.current_account, self.region)  # as every Auto Scaling request does
        complete(
            self.current_account,
            self.region,
            self._get_param("AutoScalingGroupName"),
            self._get_param("LifecycleHookName"),
            self._get_param("LifecycleActionResult"),
            token=self._get_param("LifecycleActionToken"),
            instance_id=self._get_param("InstanceId"),
        )
        return EmptyResult()

    def record_lifecycle_action_heartbeat(self: Any) -> Any:
        advance(self.current_account, self.region)  # as every Auto Scaling request does
        record_heartbeat(
            self.current_account,
            self.region,
            self._get_param("AutoScalingGroupName"),
            self._get_param("LifecycleHookName"),
            token=self._get_param("LifecycleActionToken"),
            instance_id=self._get_param("InstanceId"),
        )
        return EmptyResult()

    AutoScalingResponse.autoscaling_backend = property(checked_autoscaling_backend)
    EC2Response.ec2_backend = property(checked_ec2_backend)
    AutoScalingResponse.complete_lifecycle_action = complete_lifecycle_action
    AutoScalingResponse.record_lifecycle_action_heartbeat = record_lifecycle_action_heartbeat
