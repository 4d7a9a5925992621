defmodule Linx.Process.Session do
  @moduledoc false
  # The GenServer behind a `Linx.Process` session pid: one agent Port, the session's
  # stage, the owner's event stream, buffered signals/abort, waiters, and the input
  # window for PTY/stdin writes.
  #
  # Cleanup: the session traps exits. A shutdown from its parent (a supervisor, or the
  # linked caller dying) runs terminate/2, which kills or aborts the workload and waits
  # for the agent to report it reaped. If the session is killed outright, the Port closes
  # with it and the agent, seeing end of file on its fd 3, kills the workload itself.

  use GenServer

  alias Linx.Process.{Agent, Error, Info, Prestart}

  # Input is sent in chunks of at most @chunk bytes with at most @window bytes not yet
  # acknowledged by the agent, so the control channel is never clogged by a slow reader
  # and a write of any size arrives whole. @queue_limit bounds what may wait here.
  @chunk 32 * 1024
  @window 128 * 1024
  @queue_limit 64 * 1024 * 1024

  # See refill/1.
  @refill_after_exec 10

  # How long terminate/2 waits for the agent to confirm the workload is gone.
  @reap_timeout 5_000

  defstruct [
    :port,
    :os_pid,
    :owner,
    :owner_ref,
    :mode,
    :linger,
    :auto_proceed,
    prestart?: false,
    # Whether this spawn wanted a network namespace an agent can make ahead (refill/1).
    fresh_netns?: false,
    # {request, agent path} while an adopted agent has not reported anything yet.
    adopted: nil,
    pty?: false,
    stdin_pipe?: false,
    stage: :starting,
    host_pid: nil,
    child_pid: nil,
    result: nil,
    proceeded: false,
    abort_pending: false,
    aborted: false,
    signals: [],
    waiters: [],
    input: :queue.new(),
    queued: 0,
    in_flight: 0,
    stdin_closed: false
  ]

  @impl true
  def init({mode, request, opts}) do
    Process.flag(:trap_exit, true)

    state = %__MODULE__{
      mode: mode,
      owner: opts.owner,
      owner_ref: monitor_owner(opts.owner),
      linger: opts.linger,
      auto_proceed: opts.auto_proceed,
      prestart?: Map.get(opts, :prestart?, false),
      fresh_netns?: wants_fresh_netns?(mode, request),
      pty?: opts.pty?,
      stdin_pipe?: opts.stdin_pipe?
    }

    case start_agent(opts) do
      {:ok, port} ->
        _ = Agent.command(port, {mode, request})
        state = %{state | port: port, os_pid: Agent.os_pid(port)}

        # An adopted agent is checked while it works on the request (Prestart.take/0).
        if opts[:port] == port do
          state = %{state | adopted: {{mode, request}, opts.agent}}
          {:ok, state, {:continue, {:verify_agent, opts.key}}}
        else
          {:ok, state}
        end

      {:error, errno} ->
        # No agent process exists: the session starts already ended, with the reason
        # reported like any other failure (the caller's link must not be hit by it).
        code = Linx.Errno.to_code(errno) || 5
        {:ok, state, {:continue, {:agent_start_failed, code}}}
    end
  end

  # An adopted agent that cannot serve (stale, or dead before it reported anything) is
  # replaced by a new one, which gets the same request.
  defp restart_agent(%{adopted: {request, path}} = state) do
    state = %{state | adopted: nil}

    case Agent.open(path) do
      {:ok, port} ->
        _ = Agent.command(port, request)
        {:noreply, %{state | port: port, os_pid: Agent.os_pid(port)}}

      {:error, errno} ->
        handle_continue({:agent_start_failed, Linx.Errno.to_code(errno) || 5}, %{
          state
          | port: nil
        })
    end
  end

  # An agent started ahead (Linx.Process.Prestart) is adopted; else one is started now.
  defp start_agent(%{port: port} = opts) when is_port(port) do
    Port.connect(port, self())
    :ok = Prestart.adopted(port)
    {:ok, port}
  rescue
    # It died while idle.
    ArgumentError -> Agent.open(opts.agent)
  end

  defp start_agent(opts), do: Agent.open(opts.agent)

  @impl true
  def handle_continue({:verify_agent, key}, state) do
    if Prestart.key() == key do
      {:noreply, state}
    else
      # It inherited an environment or directory the BEAM no longer has: close it (it
      # kills the child it made; none of its frames has been looked at), and the others
      # started with it, and start anew.
      _ = Prestart.discard(state.port)
      :ok = Prestart.discard_key(key)
      restart_agent(state)
    end
  end

  def handle_continue({:agent_start_failed, code}, state) do
    finish({:error, Error.from_agent(code, :agent_start)}, state)
  end

  # An owner given as a registered name outlives any one process: only pids are watched.
  defp monitor_owner(owner) when is_pid(owner), do: Process.monitor(owner)
  defp monitor_owner(_name), do: nil

  # --- calls ----------------------------------------------------------------------------

  @impl true
  def handle_call(:proceed, _from, state) do
    cond do
      state.result != nil or state.aborted -> {:reply, {:error, :no_process}, state}
      state.stage == :running -> {:reply, {:error, :running}, state}
      state.stage != :ready -> {:reply, {:error, :not_ready}, state}
      state.proceeded -> {:reply, :ok, state}
      true -> {:reply, :ok, send_proceed(state)}
    end
  end

  def handle_call(:abort, _from, state) do
    cond do
      state.result != nil -> {:reply, {:error, :no_process}, state}
      state.stage == :running or state.proceeded -> {:reply, {:error, :running}, state}
      state.aborted or state.abort_pending -> {:reply, :ok, state}
      state.stage == :ready -> {:reply, :ok, send_abort(state)}
      true -> {:reply, :ok, %{state | abort_pending: true}}
    end
  end

  def handle_call({:signal, sig}, _from, state) do
    cond do
      state.result != nil ->
        {:reply, {:error, :no_process}, state}

      state.stage == :running ->
        _ = Agent.command(state.port, {:signal, sig})
        {:reply, :ok, state}

      true ->
        {:reply, :ok, %{state | signals: [sig | state.signals]}}
    end
  end

  def handle_call({:wait, timeout}, from, state) do
    case state.result do
      nil ->
        timer =
          if timeout == :infinity,
            do: nil,
            else: Process.send_after(self(), {:wait_timeout, from}, timeout)

        {:noreply, %{state | waiters: [{from, timer} | state.waiters]}}

      result ->
        {:reply, wait_reply(result), state}
    end
  end

  def handle_call(:info, _from, state), do: {:reply, {:ok, info(state)}, state}

  def handle_call(:host_pid, _from, %{host_pid: nil} = state),
    do: {:reply, {:error, :not_ready}, state}

  def handle_call(:host_pid, _from, state), do: {:reply, {:ok, state.host_pid}, state}

  def handle_call(:pty_master, _from, state) do
    {:reply, if(state.pty?, do: {:ok, self()}, else: {:error, :no_pty}), state}
  end

  def handle_call({:pty_write, bytes}, _from, state) do
    cond do
      not state.pty? -> {:reply, {:error, :no_pty}, state}
      true -> input(state, {:pty_in, bytes})
    end
  end

  def handle_call({:stdin_write, bytes}, _from, state) do
    cond do
      not state.stdin_pipe? -> {:reply, {:error, :no_stdin_pipe}, state}
      state.stdin_closed and state.result == nil -> {:reply, {:error, :closed}, state}
      true -> input(state, {:stdin, bytes})
    end
  end

  def handle_call(:stdin_close, _from, state) do
    cond do
      not state.stdin_pipe? ->
        {:reply, {:error, :no_stdin_pipe}, state}

      state.result != nil or state.aborted ->
        {:reply, {:error, :no_process}, state}

      state.stage != :running ->
        {:reply, {:error, :not_running}, state}

      state.stdin_closed ->
        {:reply, :ok, state}

      true ->
        {:reply, :ok, pump(%{state | input: :queue.in(:close, state.input), stdin_closed: true})}
    end
  end

  def handle_call({:pty_winsize, {_, _, _, _} = ws}, _from, state) do
    cond do
      not state.pty? -> {:reply, {:error, :no_pty}, state}
      state.result != nil or state.aborted -> {:reply, {:error, :no_process}, state}
      state.stage not in [:ready, :running] -> {:reply, {:error, :not_ready}, state}
      true -> {:reply, forward(state, {:pty_winsize, ws}), state}
    end
  end

  def handle_call({:set_owner, owner}, _from, state) do
    if state.owner_ref, do: Process.demonitor(state.owner_ref, [:flush])
    {:reply, :ok, %{state | owner: owner, owner_ref: monitor_owner(owner)}}
  end

  # Checkpoint commands from Linx.Capabilities and Linx.Seccomp (0.2's message shapes):
  # forwarded to the agent, which passes them to the parked child in order. `:ok` means
  # forwarded; a kernel refusal ends the session with {:error, errno, stage}.
  def handle_call({:cap_drop_bounding, mask} = cmd, _from, state) when is_integer(mask),
    do: checkpoint_command(cmd, [mask], state)

  def handle_call({:cap_set_thread, e, p, i} = cmd, _from, state)
      when is_integer(e) and is_integer(p) and is_integer(i),
      do: checkpoint_command(cmd, [e, p, i], state)

  def handle_call({:cap_set_ambient, mask} = cmd, _from, state) when is_integer(mask),
    do: checkpoint_command(cmd, [mask], state)

  def handle_call({:seccomp_install, bpf} = cmd, _from, state) when is_binary(bpf),
    do: checkpoint_command(cmd, [], state)

  @max_u64 0xFFFF_FFFF_FFFF_FFFF

  defp checkpoint_command(cmd, masks, state) do
    cond do
      state.result != nil or state.aborted ->
        {:reply, {:error, :no_process}, state}

      state.stage == :running or state.proceeded ->
        {:reply, {:error, :running}, state}

      state.stage != :ready ->
        {:reply, {:error, :not_ready}, state}

      bad = Enum.find(masks, &(&1 < 0 or &1 > @max_u64)) ->
        {:reply, {:error, {:bad_mask, bad}}, state}

      true ->
        {:reply, forward(state, cmd), state}
    end
  end

  defp forward(state, cmd) do
    case Agent.command(state.port, cmd) do
      :ok -> :ok
      :closed -> {:error, :no_process}
    end
  end

  defp send_proceed(state) do
    _ = Agent.command(state.port, :proceed)
    %{state | proceeded: true}
  end

  defp send_abort(state) do
    _ = Agent.command(state.port, :abort)
    %{state | aborted: true, abort_pending: false}
  end

  # Once per session, when its spawn is no longer being waited for: when it ends, or
  # @refill_after_exec ms after the workload's execve (starting an agent takes CPU time
  # that the workload's own start-up should not have to share).
  defp refill(%{prestart?: true} = state) do
    :ok = Prestart.refill(state.fresh_netns?)
    %{state | prestart?: false}
  end

  defp refill(state), do: state

  # A new network namespace that an agent can make ahead (one that a new user namespace
  # must own cannot be).
  defp wants_fresh_netns?(:spawn, %{namespaces: ns}), do: :net in ns and :user not in ns
  defp wants_fresh_netns?(_mode, _request), do: false

  # --- input window ---------------------------------------------------------------------

  defp input(state, {_tag, bytes}) when bytes == "",
    do: {:reply, guard_input(state) || :ok, state}

  defp input(state, {tag, bytes}) do
    case guard_input(state) do
      nil ->
        if state.queued + byte_size(bytes) > @queue_limit do
          {:reply, {:error, :input_full}, state}
        else
          queue = Enum.reduce(chunks(bytes), state.input, &:queue.in({tag, &1}, &2))
          {:reply, :ok, pump(%{state | input: queue, queued: state.queued + byte_size(bytes)})}
        end

      error ->
        {:reply, error, state}
    end
  end

  defp guard_input(state) do
    cond do
      state.result != nil or state.aborted -> {:error, :no_process}
      state.stage != :running -> {:error, :not_running}
      true -> nil
    end
  end

  defp chunks(<<chunk::binary-size(@chunk), rest::binary>>) when rest != "",
    do: [chunk | chunks(rest)]

  defp chunks(bytes), do: [bytes]

  defp pump(%{port: nil} = state), do: state

  defp pump(state) do
    case :queue.out(state.input) do
      {{:value, :close}, rest} ->
        _ = Agent.command(state.port, :stdin_close)
        pump(%{state | input: rest})

      {{:value, {tag, chunk}}, rest} when state.in_flight < @window ->
        _ = Agent.command(state.port, {tag, chunk})
        size = byte_size(chunk)

        pump(%{
          state
          | input: rest,
            queued: state.queued - size,
            in_flight: state.in_flight + size
        })

      _ ->
        state
    end
  end

  # --- agent frames ---------------------------------------------------------------------

  @impl true
  def handle_info({port, {:data, frame}}, %{port: port} = state) do
    # The adopted agent answered: from here on it is this session's agent like any other.
    state = %{state | adopted: nil}

    case Agent.decode(frame) do
      {:ok, term} -> handle_frame(term, state)
      :error -> protocol_violation(state)
    end
  end

  # An adopted agent that died while idle (killed from outside) and so never answered:
  # the request goes to a new one.
  def handle_info({port, {:exit_status, _}}, %{port: port, adopted: {_, _}} = state),
    do: restart_agent(state)

  def handle_info({:EXIT, port, _reason}, %{port: port, adopted: {_, _}} = state),
    do: restart_agent(state)

  def handle_info({port, {:exit_status, status}}, %{port: port} = state) do
    state = %{state | port: nil}

    case state.result do
      nil -> finish({:error, Error.from_agent(status, :agent_died)}, state)
      _ -> {:noreply, state}
    end
  end

  def handle_info(:refill, state), do: {:noreply, refill(state)}

  def handle_info({:wait_timeout, from}, state) do
    case List.keytake(state.waiters, from, 0) do
      {{^from, _timer}, rest} ->
        GenServer.reply(from, {:error, :timeout})
        {:noreply, %{state | waiters: rest}}

      nil ->
        {:noreply, state}
    end
  end

  def handle_info({:DOWN, ref, :process, _pid, _reason}, %{owner_ref: ref} = state) do
    # Nobody is left to receive the events: the workload goes with its owner. :normal, so
    # neither a linked caller nor a :transient supervisor treats this as a crash.
    {:stop, :normal, %{state | owner_ref: nil}}
  end

  # The Port died without an exit status: writing to an agent that had exited failed
  # (EPIPE). Its terminal event, if it sent one, is lost with it.
  def handle_info({:EXIT, port, reason}, %{port: port} = state) do
    state = %{state | port: nil}

    case state.result do
      nil -> finish({:error, Error.from_agent(channel_errno(reason), :agent_channel)}, state)
      _ -> {:noreply, state}
    end
  end

  # The Port's own exit signal after its exit_status, stray messages, and exits from other
  # linked processes are ignored, not crashed on.
  def handle_info(_other, state), do: {:noreply, state}

  defp channel_errno(reason) when is_atom(reason), do: Linx.Errno.to_code(reason) || 5
  defp channel_errno(_reason), do: 5

  defp handle_frame({:status, :spawned, pid}, %{stage: :starting} = state)
       when is_integer(pid) and pid > 0,
       do: {:noreply, %{state | stage: :spawned, host_pid: pid}}

  defp handle_frame({:status, :ready, pid}, %{stage: :spawned} = state)
       when is_integer(pid) and pid > 0 do
    state = %{state | stage: :ready, child_pid: pid}
    notify(state, {:linx_process, :ready, state.host_pid})

    state =
      cond do
        state.abort_pending -> send_abort(state)
        state.auto_proceed -> send_proceed(state)
        true -> state
      end

    {:noreply, state}
  end

  defp handle_frame({:status, :running}, %{stage: :ready, proceeded: true} = state) do
    state = %{state | stage: :running}
    notify(state, {:linx_process, :running})
    _ = if state.prestart?, do: Process.send_after(self(), :refill, @refill_after_exec)
    for sig <- Enum.reverse(state.signals), do: Agent.command(state.port, {:signal, sig})
    {:noreply, pump(%{state | signals: []})}
  end

  defp handle_frame({:status, :exited, code}, state) when is_integer(code),
    do: finish({:exited, code}, state)

  defp handle_frame({:status, :signaled, sig}, state) when is_integer(sig),
    do: finish({:signaled, sig}, state)

  defp handle_frame({:status, :aborted, _child_pid}, state), do: finish(:aborted, state)

  defp handle_frame({:error, code, stage}, state) when is_integer(code) and is_atom(stage),
    do: finish({:error, Error.from_agent(code, stage)}, state)

  defp handle_frame({tag, bytes}, state)
       when tag in [:pty_out, :stdout, :stderr] and is_binary(bytes) do
    notify(state, {:linx_process, tag, bytes})
    {:noreply, state}
  end

  defp handle_frame({:input_ack, n}, state) when is_integer(n) and n >= 0,
    do: {:noreply, pump(%{state | in_flight: max(state.in_flight - n, 0)})}

  defp handle_frame(_unexpected, state), do: protocol_violation(state)

  # The agent sent something that is not the protocol: it cannot be trusted to report the
  # workload's fate, so it is closed (which makes it kill the workload) and the session
  # ends with an error naming the agent.
  defp protocol_violation(state) do
    if state.port, do: close_port(state.port)
    finish({:error, Error.from_agent(71, :agent_protocol)}, %{state | port: nil})
  end

  defp close_port(port) do
    Port.close(port)
  rescue
    ArgumentError -> true
  end

  # --- the end --------------------------------------------------------------------------

  defp finish(result, %{result: nil} = state) do
    # Asked before the owner hears of the end, so that whatever the owner does next
    # (spawn again, or drain the agents started ahead) comes after it.
    state = refill(state)

    case result do
      {:exited, code} ->
        notify(state, {:linx_process, :exited, code})

      {:signaled, sig} ->
        notify(state, {:linx_process, :signaled, sig})

      :aborted ->
        notify(state, {:linx_process, :aborted})

      {:error, %Error{code: code, stage: stage}} ->
        notify(state, {:linx_process, :error, code, stage})
    end

    for {from, timer} <- state.waiters do
      _ = if timer, do: Process.cancel_timer(timer)
      GenServer.reply(from, wait_reply(result))
    end

    # The agent sent its last event and waits for the port to close before it exits
    # (closing it now means no command can be left queued for an exited agent).
    if state.port, do: close_port(state.port)

    state = %{
      state
      | port: nil,
        result: result,
        stage: terminal_stage(result),
        waiters: [],
        input: :queue.new(),
        queued: 0,
        in_flight: 0
    }

    if state.linger, do: {:noreply, state}, else: {:stop, exit_reason(result), state}
  end

  # Exactly one terminal event per session: anything after the first is dropped.
  defp finish(_result, state), do: {:noreply, state}

  defp terminal_stage({:exited, _}), do: :exited
  defp terminal_stage({:signaled, _}), do: :signaled
  defp terminal_stage(:aborted), do: :aborted
  defp terminal_stage({:error, _}), do: :errored

  defp exit_reason({:exited, 0}), do: :normal
  defp exit_reason({:exited, _} = r), do: r
  defp exit_reason({:signaled, _} = r), do: r
  defp exit_reason(:aborted), do: {:shutdown, :aborted}
  defp exit_reason({:error, _} = r), do: r

  defp wait_reply({:error, %Error{}} = error), do: error
  defp wait_reply(result), do: {:ok, result}

  defp notify(%{owner: owner}, message) when is_pid(owner), do: send(owner, message)

  defp notify(%{owner: name}, message) do
    case Process.whereis(name) do
      nil -> :ok
      pid -> send(pid, message)
    end
  end

  defp info(state) do
    %Info{
      mode: state.mode,
      stage: state.stage,
      host_pid: state.host_pid,
      child_pid: state.child_pid,
      pty?: state.pty?,
      result: state.result
    }
  end

  # A graceful stop (supervisor shutdown, the linked caller's exit, GenServer.stop, an
  # owner that went away): the workload must not outlive the session. A running workload
  # is SIGKILLed, anything earlier is aborted; then wait until the agent says it reaped
  # it (its terminal event still reaches the owner) and has exited.
  @impl true
  def terminate(_reason, %{port: port} = state) when port != nil do
    # A session torn down (its owner or caller gone, a supervisor stopping it) is no sign
    # that more spawns follow: no agents are started ahead for it.
    state = %{state | prestart?: false}

    _ =
      cond do
        state.result != nil -> :ok
        state.stage == :running -> Agent.command(port, {:signal, 9})
        state.aborted -> :ok
        true -> Agent.command(port, :abort)
      end

    deadline = System.monotonic_time(:millisecond) + @reap_timeout
    await_agent_exit(state, deadline)
  end

  def terminate(_reason, _state), do: :ok

  defp await_agent_exit(%{port: port} = state, deadline) do
    remaining = max(deadline - System.monotonic_time(:millisecond), 0)

    receive do
      {^port, {:data, frame}} ->
        state =
          with {:ok, term} <- Agent.decode(frame),
               {_, %__MODULE__{} = next} <- handle_frame(term, %{state | linger: true}) do
            next
          else
            _ -> state
          end

        # The terminal event (or a garbled frame) closed the port: the workload is gone.
        if state.port, do: await_agent_exit(state, deadline), else: :ok

      {^port, {:exit_status, _}} ->
        :ok

      {:EXIT, ^port, _reason} ->
        :ok
    after
      remaining ->
        # The agent did not confirm in time: closing fd 3 makes it SIGKILL the workload.
        close_port(port)
        :ok
    end
  end
end
