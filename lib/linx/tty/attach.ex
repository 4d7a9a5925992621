defmodule Linx.Tty.Attach do
  @moduledoc false
  # The engine of `Linx.Tty.attach/3`: set-up, the pump loop, and the tear-down that
  # puts everything back. See `Linx.Tty.attach/3` for the behaviour.

  alias Linx.Tty.{Env, Error, GroupLeader, Native, Relay}

  @default_detach_key <<16, 17>>
  @default_poll_ms 250
  # How long the last output may take to reach the terminal once the workload ended.
  @flush_ms 1_000

  @typep result ::
           {:ok, {:exited, non_neg_integer()} | {:signaled, pos_integer()} | :aborted | :detached}
           | {:error, term()}

  @spec run(Linx.Tty.target(), pid(), keyword()) :: result()
  def run(target, session, opts) do
    opts = check_opts!(opts)

    with {:ok, info} <- check_session(session) do
      case target do
        :controlling ->
          if Env.classify_caller_terminal() in [:ssh, :remote],
            do: {:error, :no_local_tty},
            else: local(Native.open_controlling_raw(), session, info, opts)

        {:fd, fd} ->
          local(Native.open_fd_raw(fd), session, info, opts)

        :group_leader ->
          group_leader(session, info, opts)
      end
    end
  end

  @spec check_opts!(keyword()) :: %{detach_key: binary() | nil, winsize_poll_ms: pos_integer()}
  def check_opts!(opts) when is_list(opts) do
    Enum.reduce(opts, %{detach_key: @default_detach_key, winsize_poll_ms: @default_poll_ms}, fn
      {:detach_key, nil}, acc ->
        %{acc | detach_key: nil}

      {:detach_key, key}, acc when is_binary(key) and byte_size(key) > 0 ->
        %{acc | detach_key: key}

      {:winsize_poll_ms, ms}, acc when is_integer(ms) and ms in 10..60_000 ->
        %{acc | winsize_poll_ms: ms}

      other, _acc ->
        raise ArgumentError,
              "Linx.Tty.attach/3: bad option #{inspect(other)} (expected detach_key: " <>
                "non-empty binary or nil, winsize_poll_ms: 10..60000)"
    end)
  end

  def check_opts!(opts),
    do:
      raise(
        ArgumentError,
        "Linx.Tty.attach/3: options must be a keyword list, got: #{inspect(opts)}"
      )

  defp check_session(session) do
    case Linx.Process.info(session) do
      {:ok, %{stage: stage}} when stage in [:exited, :signaled, :aborted, :errored] ->
        {:error, :no_process}

      {:ok, %{pty?: false}} ->
        {:error, :no_pty}

      {:ok, info} ->
        {:ok, info}

      {:error, _} ->
        {:error, :no_process}
    end
  end

  # --- a terminal descriptor (/dev/tty or a given one) ----------------------------------

  defp local({:error, {op, errno}}, _session, _info, _opts),
    do: {:error, Error.from_nif(op, errno)}

  defp local({:ok, handle, fd, saved}, session, info, opts) do
    # When the terminal is also the BEAM's fd 0 and an Erlang driver reads fd 0, two
    # readers would each get part of the input. Then the input is taken from the
    # caller's group leader (which that driver feeds), and only output goes straight
    # to the terminal.
    gl_input? = Native.same_terminal(fd, 0) and Env.erlang_reads_stdin?()

    try do
      with_trap(fn trap_was ->
        case Native.relay_open(fd, self(), not gl_input?, opts.winsize_poll_ms) do
          {:ok, relay_res, id} ->
            relay = %Relay{id: id, fd: fd, resource: relay_res}
            sig = arm_sigwinch()
            gl = if gl_input?, do: start_gl_input(), else: nil

            state =
              new_state(session, info, opts, trap_was)
              |> Map.merge(%{relay: relay, local_fd: fd, out: {:relay, relay}})
              |> with_gl_input(gl)

            try do
              seed_winsize(state, Native.window_size(fd))
              |> pump()
            after
              _ = Relay.close(relay, @flush_ms)
              flush_relay(id)
              disarm_sigwinch(sig)
              stop_gl_input(gl)
            end

          {:error, {op, errno}} ->
            {:error, Error.from_nif(op, errno)}
        end
      end)
    after
      _ = Native.restore_and_close(handle, fd, saved)
    end
  end

  defp start_gl_input do
    gl = Process.group_leader()
    saved = GroupLeader.prepare(gl)
    ref = make_ref()
    reader = spawn_link(GroupLeader, :reader, [self(), gl, ref, GroupLeader.encoding(gl)])
    %{gl: gl, saved: saved, ref: ref, reader: reader}
  end

  defp with_gl_input(state, nil), do: state

  defp with_gl_input(state, gl),
    do: %{state | gl: gl.gl, reader: gl.reader, reader_ref: gl.ref}

  defp stop_gl_input(nil), do: :ok

  defp stop_gl_input(%{saved: saved, ref: ref, reader: reader}) do
    # The reader is blocked in a get_chars request; only an exit signal ends it.
    Process.unlink(reader)
    Process.exit(reader, :kill)

    receive do
      {:EXIT, ^reader, _} -> :ok
    after
      0 -> :ok
    end

    flush_gl(ref)
    GroupLeader.restore(saved)
  end

  # --- the caller's group leader ----------------------------------------------------------

  defp group_leader(session, info, opts) do
    with_trap(fn trap_was ->
      gl_input = start_gl_input()
      enc = GroupLeader.encoding(gl_input.gl)
      poll_ref = make_ref()

      state =
        new_state(session, info, opts, trap_was)
        |> Map.merge(%{out: {:gl, gl_input.gl, enc, <<>>}, poll_ref: poll_ref})
        |> with_gl_input(gl_input)

      try do
        state = seed_winsize(state, gl_winsize(gl_input.gl))
        Process.send_after(self(), {:linx_tty_gl, poll_ref, :winsize}, opts.winsize_poll_ms)
        pump(state)
      after
        stop_gl_input(gl_input)
        flush_gl(poll_ref)
      end
    end)
  end

  defp gl_winsize(gl) do
    case {safe_geometry(gl, :rows), safe_geometry(gl, :columns)} do
      {{:ok, rows}, {:ok, cols}} -> {:ok, {rows, cols, 0, 0}}
      _ -> :error
    end
  end

  defp safe_geometry(gl, :rows), do: catching(fn -> :io.rows(gl) end)
  defp safe_geometry(gl, :columns), do: catching(fn -> :io.columns(gl) end)

  defp catching(fun) do
    fun.()
  catch
    _, _ -> :error
  end

  # --- the pump ---------------------------------------------------------------------------

  defp new_state(session, info, opts, trap_was) do
    %{
      session: session,
      mon: Process.monitor(session),
      running?: info.stage == :running,
      pending_in: [],
      detach_key: opts.detach_key,
      held: <<>>,
      poll_ms: opts.winsize_poll_ms,
      last_ws: nil,
      pending_ws: nil,
      relay: nil,
      local_fd: nil,
      out: nil,
      gl: nil,
      reader: nil,
      reader_ref: nil,
      poll_ref: nil,
      trap_was: trap_was
    }
  end

  defp seed_winsize(state, {:ok, ws}), do: forward_winsize(state, ws)
  defp seed_winsize(state, _), do: state

  defp forward_winsize(%{last_ws: ws} = state, ws), do: state

  defp forward_winsize(state, ws) do
    case Linx.Process.pty_set_winsize(state.session, ws) do
      # Before the checkpoint the pty cannot be sized yet: keep it for `:ready`.
      {:error, :not_ready} -> %{state | pending_ws: ws}
      _ -> %{state | last_ws: ws, pending_ws: nil}
    end
  end

  defp apply_pending_ws(%{pending_ws: nil} = state), do: state
  defp apply_pending_ws(%{pending_ws: ws} = state), do: forward_winsize(state, ws)

  defp pump(state) do
    relay_id = state.relay && state.relay.id
    reader = state.reader
    reader_ref = state.reader_ref
    gl = state.gl
    mon = state.mon
    poll_ref = state.poll_ref
    trap_was = state.trap_was

    receive do
      {:linx_tty, ^relay_id, {:data, bytes}} ->
        input(state, bytes)

      {:linx_tty_gl, ^reader_ref, {:data, bytes}} ->
        input(state, bytes)

      {:linx_process, :pty_out, bytes} ->
        pump(output(state, bytes))

      {:linx_tty, ^relay_id, {:winsize, ws}} ->
        pump(forward_winsize(state, ws))

      {:linx_tty, :sigwinch} ->
        case state.local_fd && Native.window_size(state.local_fd) do
          {:ok, ws} -> pump(forward_winsize(state, ws))
          _ -> pump(state)
        end

      {:linx_tty_gl, ^poll_ref, :winsize} ->
        state =
          case gl_winsize(gl) do
            {:ok, ws} -> forward_winsize(state, ws)
            :error -> state
          end

        Process.send_after(self(), {:linx_tty_gl, poll_ref, :winsize}, state.poll_ms)
        pump(state)

      # Seen only when attached before the checkpoint: the caller, blocked here, had
      # no use for it anyway.
      {:linx_process, :ready, _host_pid} ->
        pump(apply_pending_ws(state))

      {:linx_process, :running} ->
        pump(flush_pending(apply_pending_ws(%{state | running?: true})))

      {:linx_process, :exited, code} ->
        {:ok, {:exited, code}}

      {:linx_process, :signaled, signum} ->
        {:ok, {:signaled, signum}}

      {:linx_process, :aborted} ->
        {:ok, :aborted}

      {:linx_process, :error, errno, stage} ->
        {:error, Linx.Process.Error.from_agent(errno, stage)}

      {:DOWN, ^mon, :process, _, _} ->
        {:error, :no_process}

      {:linx_tty, ^relay_id, {:closed, reason}} ->
        {:error, Error.from_nif(:terminal, reason)}

      {:linx_tty_gl, ^reader_ref, :eof} ->
        {:error, :gl_eof}

      {:linx_tty_gl, ^reader_ref, {:error, why}} ->
        {:error, {:gl_reader, why}}

      {:EXIT, ^reader, reason} when reader != nil ->
        {:error, {:gl_reader_exit, reason}}

      # The I/O server took a Ctrl-C between two reads and interrupted us directly.
      {:EXIT, ^gl, :interrupt} when gl != nil ->
        input(state, <<3>>)

      {:EXIT, _from, reason} = msg when not trap_was ->
        # The caller does not trap exits: a linked process ending normally would have
        # been ignored, anything else would have killed it. Do the same, after
        # restoring the terminal.
        if reason == :normal, do: pump(state), else: {:exit, reason, msg}
    end
  end

  defp input(state, bytes) do
    case scan(state.held, bytes, state.detach_key) do
      {:pass, out, held} ->
        pump(send_input(%{state | held: held}, out))

      {:detach, out} ->
        _ = send_input(%{state | held: <<>>}, out)
        {:ok, :detached}
    end
  end

  @doc false
  # Splits input around the detach key: `{:detach, before_key}` when the key is
  # complete, else `{:pass, to_send, held}` where `held` is the longest tail that could
  # still be the start of the key (sent later if the next bytes do not complete it).
  @spec scan(binary(), binary(), binary() | nil) ::
          {:pass, binary(), binary()} | {:detach, binary()}
  def scan(_held, bytes, nil), do: {:pass, bytes, <<>>}

  def scan(held, bytes, key) do
    data = held <> bytes

    case :binary.match(data, key) do
      {pos, _} ->
        {:detach, binary_part(data, 0, pos)}

      :nomatch ->
        keep = partial_tail(data, key, min(byte_size(key) - 1, byte_size(data)))

        {:pass, binary_part(data, 0, byte_size(data) - keep),
         binary_part(data, byte_size(data), -keep)}
    end
  end

  defp partial_tail(_data, _key, 0), do: 0

  defp partial_tail(data, key, n) do
    if binary_part(data, byte_size(data), -n) == binary_part(key, 0, n),
      do: n,
      else: partial_tail(data, key, n - 1)
  end

  defp send_input(state, <<>>), do: state

  defp send_input(%{running?: false} = state, bytes),
    do: %{state | pending_in: [state.pending_in, bytes]}

  defp send_input(state, bytes) do
    case Linx.Process.pty_write(state.session, bytes) do
      {:error, :not_running} -> %{state | pending_in: [state.pending_in, bytes], running?: false}
      _ -> state
    end
  end

  defp flush_pending(%{pending_in: pending} = state) do
    case IO.iodata_to_binary(pending) do
      <<>> -> state
      bytes -> send_input(%{state | pending_in: []}, bytes)
    end
  end

  defp output(%{out: {:relay, relay}} = state, bytes) do
    _ = Relay.write(relay, bytes)
    state
  end

  defp output(%{out: {:gl, gl, enc, carry}} = state, bytes) do
    carry = GroupLeader.put(gl, enc, bytes, carry)
    %{state | out: {:gl, gl, enc, carry}}
  end

  # --- signals, exits, leftovers ----------------------------------------------------------

  # SIGWINCH through OTP's signal server (OTP 26 and later; older releases refuse the
  # signal, and the relay's window-size polling covers for it).
  defp arm_sigwinch do
    ref = make_ref()

    try do
      # Through apply/3: OTP 25's contract for os:set_signal/2 does not list SIGWINCH
      # (it raises badarg there, caught below).
      :ok = apply(:os, :set_signal, [:sigwinch, :handle])
      :ok = :gen_event.add_handler(:erl_signal_server, {Linx.Tty.SigwinchHandler, ref}, self())
      ref
    catch
      _, _ -> nil
    end
  end

  defp disarm_sigwinch(nil), do: :ok

  defp disarm_sigwinch(ref) do
    _ = :gen_event.delete_handler(:erl_signal_server, {Linx.Tty.SigwinchHandler, ref}, [])

    receive do
      {:linx_tty, :sigwinch} -> :ok
    after
      0 -> :ok
    end
  catch
    _, _ -> :ok
  end

  defp flush_relay(id) do
    receive do
      {:linx_tty, ^id, _} -> flush_relay(id)
    after
      0 -> :ok
    end
  end

  defp flush_gl(ref) do
    receive do
      {:linx_tty_gl, ^ref, _} -> flush_gl(ref)
    after
      0 -> :ok
    end
  end

  # Runs `fun` trapping exits (so a linked crash cannot skip the restore), then puts the
  # flag back. A caller that did not trap exits gets the behaviour it would have had:
  # an abnormal exit signal that arrived meanwhile ends it once the terminal is back.
  defp with_trap(fun) do
    was = Process.flag(:trap_exit, true)

    result =
      try do
        fun.(was)
      after
        Process.flag(:trap_exit, was)
      end

    case result do
      {:exit, reason, _msg} ->
        exit(reason)

      result when was ->
        result

      result ->
        case take_abnormal_exit() do
          nil -> result
          reason -> exit(reason)
        end
    end
  end

  defp take_abnormal_exit do
    receive do
      {:EXIT, _from, :normal} -> take_abnormal_exit()
      {:EXIT, _from, reason} -> reason
    after
      0 -> nil
    end
  end
end
