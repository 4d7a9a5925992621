defmodule Linx.Capabilities do
  @moduledoc """
  Linux capabilities (capabilities(7)): read the five sets of any process, and shape a
  `Linx.Process` workload's sets at its checkpoint, before it runs a single instruction
  of its own.

      {:ok, state} = Linx.Capabilities.read(:self)
      MapSet.member?(state.bounding, :cap_net_admin)

      {:ok, s} = Linx.Process.spawn(argv: ["/usr/sbin/mydaemon"])
      receive do {:linx_process, :ready, _host_pid} -> :ok end
      keep = MapSet.new([:cap_net_bind_service])
      :ok = Linx.Capabilities.drop_bounding(s, MapSet.difference(Linx.Capabilities.Constants.all(), keep))
      :ok = Linx.Process.proceed(s)

  Capabilities are atoms, the lowercase `CAP_*` names of `linux/capability.h`
  (`:cap_net_admin`); sets are `MapSet`s. `Linx.Capabilities.Constants` converts between
  names, numbers and masks.

  ## Reading

  `read/1` parses the `CapInh`, `CapPrm`, `CapEff`, `CapBnd` and `CapAmb` lines of
  `/proc/<pid>/status`; it needs no privilege.

  ## Writing, at the checkpoint

  A process can only change its own capabilities, so the write verbs are commands for
  a workload parked at the `Linx.Process` checkpoint (between `{:linx_process, :ready,
  host_pid}` and `Linx.Process.proceed/1`). The child applies each as it arrives, in the
  order sent:

    * `drop_bounding/2`: `prctl(PR_CAPBSET_DROP)` for each capability; one-way;
    * `set_thread_sets/2`: one capset(2) of the effective, permitted and inheritable
      sets (the kernel demands effective ⊆ permitted, and can only lower permitted);
    * `set_ambient/2`: replaces the ambient set (`PR_CAP_AMBIENT_CLEAR_ALL`, then a
      raise per capability; each must be permitted and inheritable already).

  Each returns `:ok` once the command is on its way. If the kernel refuses it, the
  session ends at the checkpoint: the owner receives `{:linx_process, :error, errno,
  stage}` with the stage `:cap_drop_bounding`, `:cap_set_thread` or `:cap_set_ambient`,
  and the workload never runs. Dropping bounding capabilities needs `CAP_SETPCAP` in
  the child's effective set, so send a `set_thread_sets/2` that removes it last.

  After `execve` the kernel recomputes the sets from these (capabilities(7), "Transformation
  of capabilities during execve()"): a workload running as uid 0 of its user namespace
  gets permitted = effective = bounding ∪ inheritable; any other uid keeps only its
  ambient set.
  """

  alias Linx.Capabilities.{Constants, Error, State}

  require Logger

  @type cap :: Constants.cap()
  @type cap_set :: MapSet.t(cap())

  @type write_error ::
          :not_ready | :running | :no_process | {:bad_capability, term()}

  @fields [
    {"CapInh", :inheritable},
    {"CapPrm", :permitted},
    {"CapEff", :effective},
    {"CapBnd", :bounding},
    {"CapAmb", :ambient}
  ]

  @doc "Whether `/proc/self/status` reports capabilities (a `CapBnd:` line)."
  @spec supported?() :: boolean()
  def supported? do
    case File.read("/proc/self/status") do
      {:ok, text} -> String.contains?(text, "\nCapBnd:")
      {:error, _} -> false
    end
  end

  @doc """
  The highest capability number the running kernel knows
  (`/proc/sys/kernel/cap_last_cap`), which may differ from `Constants.last_cap/0`.
  """
  @spec kernel_last_cap() :: {:ok, non_neg_integer()} | {:error, Error.t()}
  def kernel_last_cap do
    path = "/proc/sys/kernel/cap_last_cap"

    with {:ok, text} <- File.read(path),
         {n, _} <- Integer.parse(String.trim(text)) do
      {:ok, n}
    else
      {:error, errno} -> {:error, Error.from_posix(errno, path, :read)}
      :error -> {:error, Error.from_posix(:bad_status, path, :read)}
    end
  end

  @doc """
  The five capability sets of the BEAM (`:self`) or of the process `pid` (a pid in the
  BEAM's pid namespace, such as a workload's host pid).

  Returns `{:ok, %Linx.Capabilities.State{}}` or `{:error, %Linx.Capabilities.Error{}}`
  (`:enoent` for a pid that does not exist, `:bad_status` when a `Cap*` line is missing).
  Bits this table does not name are left out, with a logged warning. Anything but `:self`
  or a positive integer raises `ArgumentError`.
  """
  @spec read(:self | pos_integer()) :: {:ok, State.t()} | {:error, Error.t()}
  def read(:self), do: read_path("/proc/self/status")
  def read(pid) when is_integer(pid) and pid > 0, do: read_path("/proc/#{pid}/status")

  def read(other),
    do:
      raise(
        ArgumentError,
        "expected :self or a host pid (positive integer), got: #{inspect(other)}"
      )

  defp read_path(path) do
    case File.read(path) do
      {:ok, text} -> parse_status(text, path)
      {:error, errno} -> {:error, Error.from_posix(errno, path, :read)}
    end
  end

  @doc false
  # Parses the text of a /proc/<pid>/status file; `path` is only for errors and warnings.
  @spec parse_status(binary(), String.t()) :: {:ok, State.t()} | {:error, Error.t()}
  def parse_status(text, path) when is_binary(text) and is_binary(path) do
    masks =
      for line <- String.split(text, "\n"),
          [tag, hex] <- [
            Regex.run(~r/^(Cap(?:Inh|Prm|Eff|Bnd|Amb)):\s+([0-9a-fA-F]+)\s*$/, line,
              capture: :all_but_first
            )
          ],
          into: %{},
          do: {tag, String.to_integer(hex, 16)}

    if Enum.all?(@fields, fn {tag, _} -> Map.has_key?(masks, tag) end) do
      extra = Enum.reduce(masks, 0, fn {_, m}, acc -> Bitwise.bor(acc, m) end)
      extra = Bitwise.band(extra, Bitwise.bnot(Constants.known_mask()))

      if extra != 0 do
        Logger.warning(
          "#{path}: capability bits 0x#{Integer.to_string(extra, 16)} are newer than " <>
            "Linx's table and left out"
        )
      end

      sets = for {tag, field} <- @fields, do: {field, Constants.from_bits(masks[tag])}
      {:ok, struct!(State, sets)}
    else
      {:error, Error.from_posix(:bad_status, path, :read)}
    end
  end

  @doc """
  Removes `caps` (an enumerable of capability atoms) from the parked workload's bounding
  set: no later `execve` can grant them. One-way; needs `CAP_SETPCAP` in the child.

  Returns `:ok` (sent), `{:error, {:bad_capability, elem}}` for the first element that
  is not a capability, `{:error, :not_ready}` before `:ready`, `{:error, :running}` after
  `proceed/1`, `{:error, :no_process}` once the session ended. A kernel refusal ends the
  session with stage `:cap_drop_bounding` (see the moduledoc).
  """
  @spec drop_bounding(Linx.Process.t(), Enumerable.t()) :: :ok | {:error, write_error()}
  def drop_bounding(session, caps) when is_pid(session) do
    with {:ok, mask} <- mask(caps), do: call(session, {:cap_drop_bounding, mask})
  end

  def drop_bounding(session, _caps), do: bad_session!(session)

  @doc """
  Sets the parked workload's effective, permitted and inheritable sets with one
  capset(2). All three keys are required (`[]` empties a set):

      :ok = Linx.Capabilities.set_thread_sets(s,
              effective: [:cap_net_bind_service],
              permitted: [:cap_net_bind_service],
              inheritable: [:cap_net_bind_service])

  Returns `set_ambient/2`'s results, plus `{:error, {:bad_thread_sets, {:missing, key}}}`
  (checked in the order effective, permitted, inheritable, before the capabilities).
  An unknown key or a non-keyword raises `ArgumentError`. A kernel refusal (effective
  not within permitted, a permitted capability raised) ends the session with stage
  `:cap_set_thread`.
  """
  @spec set_thread_sets(Linx.Process.t(), keyword()) ::
          :ok | {:error, write_error() | {:bad_thread_sets, {:missing, atom()}}}
  def set_thread_sets(session, sets) when is_pid(session) do
    unless is_list(sets) and Enum.all?(sets, &match?({k, _} when is_atom(k), &1)) do
      raise ArgumentError, "expected a keyword list of capability sets, got: #{inspect(sets)}"
    end

    case Keyword.keys(sets) -- [:effective, :permitted, :inheritable] do
      [] -> :ok
      [key | _] -> raise ArgumentError, "unknown capability set #{inspect(key)}"
    end

    with {:ok, e} <- fetch_set(sets, :effective),
         {:ok, p} <- fetch_set(sets, :permitted),
         {:ok, i} <- fetch_set(sets, :inheritable),
         {:ok, e} <- mask(e),
         {:ok, p} <- mask(p),
         {:ok, i} <- mask(i) do
      call(session, {:cap_set_thread, e, p, i})
    end
  end

  def set_thread_sets(session, _sets), do: bad_session!(session)

  @doc """
  Replaces the parked workload's ambient set with `caps`: they survive `execve` of an
  ordinary (non-root, no file capabilities) program. Each must already be permitted and
  inheritable (`set_thread_sets/2` first). Same returns as `drop_bounding/2`; a kernel
  refusal ends the session with stage `:cap_set_ambient`.
  """
  @spec set_ambient(Linx.Process.t(), Enumerable.t()) :: :ok | {:error, write_error()}
  def set_ambient(session, caps) when is_pid(session) do
    with {:ok, mask} <- mask(caps), do: call(session, {:cap_set_ambient, mask})
  end

  def set_ambient(session, _caps), do: bad_session!(session)

  defp fetch_set(sets, key) do
    case Keyword.fetch(sets, key) do
      {:ok, caps} -> {:ok, caps}
      :error -> {:error, {:bad_thread_sets, {:missing, key}}}
    end
  end

  defp mask(caps) do
    if Enumerable.impl_for(caps) == nil do
      raise ArgumentError, "expected an enumerable of capability atoms, got: #{inspect(caps)}"
    end

    Enum.reduce_while(caps, {:ok, 0}, fn cap, {:ok, acc} ->
      case Constants.to_bit(cap) do
        nil -> {:halt, {:error, {:bad_capability, cap}}}
        bit -> {:cont, {:ok, Bitwise.bor(acc, Bitwise.bsl(1, bit))}}
      end
    end)
  end

  defp bad_session!(session),
    do: raise(ArgumentError, "expected a Linx.Process session pid, got: #{inspect(session)}")

  defp call(session, message) do
    GenServer.call(session, message)
  catch
    :exit, _ -> {:error, :no_process}
  end
end
