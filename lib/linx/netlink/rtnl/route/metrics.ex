defmodule Linx.Netlink.Rtnl.Route.Metrics do
  @moduledoc """
  Per-route TCP/path metrics: the `RTA_METRICS` nest of `RTAX_*` attributes
  (`/usr/include/linux/rtnetlink.h`), what `ip route ... mtu 1400 advmss 1360` sets.

      iex> alias Linx.Netlink.Rtnl.Route.Metrics
      iex> m = Metrics.new(mtu: 1400, initcwnd: 10, lock: [:mtu])
      iex> {m.mtu, m.initcwnd, Metrics.locked(m)}
      {1400, 10, [:mtu]}
      iex> Metrics.decode(Metrics.encode(m)) == m
      true

  Values are the kernel's raw numbers: `rtt` is in 1/8 ms and `rttvar` in 1/4 ms (as
  `ip route ... rtt 100ms` sends them: 800 and so on), `rto_min` in ms, `cc_algo` is the
  congestion control name (`"cubic"`), `lock` is the `RTAX_LOCK` bitmask
  (`1 <<< RTAX_x` for each locked metric; `locked/1` names them). Unset metrics are `nil`.
  """

  use Linx.Netlink.Codec

  import Bitwise

  # /usr/include/linux/rtnetlink.h, enum RTAX_*
  codec do
    attr 1, :lock, :u32
    attr 2, :mtu, :u32
    attr 3, :window, :u32
    attr 4, :rtt, :u32
    attr 5, :rttvar, :u32
    attr 6, :ssthresh, :u32
    attr 7, :cwnd, :u32
    attr 8, :advmss, :u32
    attr 9, :reordering, :u32
    attr 10, :hoplimit, :u32
    attr 11, :initcwnd, :u32
    attr 12, :features, :u32
    attr 13, :rto_min, :u32
    attr 14, :initrwnd, :u32
    attr 15, :quickack, :u32
    attr 16, :cc_algo, :string
    attr 17, :fastopen_no_cookie, :u32
  end

  @ids [
    mtu: 2,
    window: 3,
    rtt: 4,
    rttvar: 5,
    ssthresh: 6,
    cwnd: 7,
    advmss: 8,
    reordering: 9,
    hoplimit: 10,
    initcwnd: 11,
    features: 12,
    rto_min: 13,
    initrwnd: 14,
    quickack: 15,
    cc_algo: 16,
    fastopen_no_cookie: 17
  ]

  @names Keyword.keys(@ids)

  @doc """
  Builds metrics from a keyword list or map (or returns a `%Metrics{}` unchanged).
  `:lock` takes a list of metric names (or the raw bitmask). An unknown key or a value
  that is not a u32 (a string for `:cc_algo`) raises `ArgumentError` naming it.
  """
  @spec new(t() | keyword() | map()) :: t()
  def new(%__MODULE__{} = m), do: m

  def new(kv) when is_list(kv) or is_map(kv) do
    Enum.reduce(kv, %__MODULE__{}, fn
      {:lock, names}, acc when is_list(names) ->
        %{acc | lock: Enum.reduce(names, 0, &(&2 ||| 1 <<< lock_id!(&1)))}

      {:lock, mask}, acc when is_integer(mask) and mask in 0..0xFFFFFFFF ->
        %{acc | lock: mask}

      {:cc_algo, name}, acc when is_binary(name) and byte_size(name) in 1..15 ->
        %{acc | cc_algo: name}

      {key, value}, acc
      when key in @names and key != :cc_algo and is_integer(value) and
             value in 0..0xFFFFFFFF ->
        Map.put(acc, key, value)

      {key, value}, _acc when key in @names or key == :lock ->
        raise ArgumentError, "bad value for route metric #{inspect(key)}: #{inspect(value)}"

      {key, _value}, _acc ->
        raise ArgumentError,
              "unknown route metric #{inspect(key)} (known: #{inspect([:lock | @names])})"

      other, _acc ->
        raise ArgumentError, "route metrics are {name, value} pairs, got: #{inspect(other)}"
    end)
  end

  def new(other),
    do:
      raise(ArgumentError, "route metrics must be a keyword list or map, got: #{inspect(other)}")

  defp lock_id!(name) do
    case Keyword.fetch(@ids, name) do
      {:ok, id} -> id
      :error -> raise ArgumentError, "cannot lock unknown route metric #{inspect(name)}"
    end
  end

  @doc "The names of the metrics whose `RTAX_LOCK` bit is set."
  @spec locked(t()) :: [atom()]
  def locked(%__MODULE__{lock: mask}) when is_integer(mask),
    do: for({name, id} <- @ids, (mask &&& 1 <<< id) != 0, do: name)

  def locked(%__MODULE__{}), do: []

  @doc "The metrics that are set, as a keyword list in `RTAX_*` order (without `:lock`)."
  @spec to_list(t()) :: keyword()
  def to_list(%__MODULE__{} = m),
    do: for({name, _} <- @ids, (v = Map.fetch!(m, name)) != nil, do: {name, v})
end
